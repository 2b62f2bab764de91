"""The seeded call history every simulated vendor builds its catalog from."""

from __future__ import annotations

import random
from dataclasses import dataclass

from .audio import AudioSpec

DAY = 86400
# Past this many calls, calls share a pool of audio files (a 100,000-row catalog for the
# ingest benchmark must not mean 100,000 encoded files); sizes and checksums stay real.
AUDIO_POOL = 64


@dataclass(frozen=True)
class SimCall:
    index: int
    started_at: float  # epoch seconds
    caller: str
    callee: str
    direction: str  # inbound or outbound
    audio: AudioSpec

    @property
    def duration(self) -> int:
        return self.audio.duration

    @property
    def ended_at(self) -> float:
        return self.started_at + self.duration


def pick_duration(rng: random.Random) -> int:
    """Mostly short calls, some long ones, a rare 30-minute one."""
    roll = rng.random()
    if roll < 0.80:
        return int(10 * (24 ** rng.random()))  # 10 s to 4 min, log-uniform
    if roll < 0.97:
        return rng.randint(240, 900)
    return rng.randint(900, 1800)


def generate_calls(
    *,
    vendor: str,
    seed: int,
    count: int,
    now: float,
    days: int = 30,
    formats: tuple[str, ...] = ("mp3",),
    channels: tuple[int, ...] = (1, 2),
    rates: tuple[int, ...] = (8000, 16000),
) -> list[SimCall]:
    """Calls spread over the last `days` days, oldest first, the same for the same arguments."""
    rng = random.Random(f"{vendor}:{seed}")
    pool = [
        AudioSpec(
            format=rng.choice(formats),
            channels=rng.choice(channels),
            sample_rate=rng.choice(rates),
            duration=pick_duration(rng),
            voice=voice,
        )
        for voice in range(min(count, AUDIO_POOL))
    ]
    agents = [f"+1415555{2000 + n:04d}" for n in range(12)]
    starts = sorted(now - rng.uniform(60 * 60, days * DAY) for _ in range(count))
    calls = []
    for index, started_at in enumerate(starts):
        customer = f"+1{rng.randint(201, 989)}{rng.randint(2000000, 9999999)}"
        agent = rng.choice(agents)
        inbound = rng.random() < 0.6
        calls.append(
            SimCall(
                index=index,
                started_at=started_at,
                caller=customer if inbound else agent,
                callee=agent if inbound else customer,
                direction="inbound" if inbound else "outbound",
                audio=pool[index % len(pool)],
            )
        )
    return calls
