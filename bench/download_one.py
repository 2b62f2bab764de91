"""Run one recording's download through the real service and print its figures as JSON.

A separate process, so its peak memory (ru_maxrss) is the download's and nothing else's.
"""

import json
import resource
import sys
import time

from common import setup_django


def main():
    recording_id = int(sys.argv[1])
    setup_django(migrate=False)  # the parent migrated; this process measures one download
    from recordings_portal.catalog.services.download import recording_download

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    outcome = recording_download(recording_id)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {"status": outcome.status, "message": outcome.message, "seconds": seconds,
               **outcome.timings}  # fmt: skip
    print(json.dumps({**figures, "rss_before_kb": before, "rss_peak_kb": peak}))


if __name__ == "__main__":
    main()
