"""What runs produced, for people: the run summary the CLI prints, and the Keras vs. PyTorch
comparison report. Reads ML Metadata (pipelines/metadata.py); changes nothing."""
