"""Audio work with PyAV and NumPy: probing, waveform peaks, masking. No Django here."""
