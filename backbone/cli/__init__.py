"""The ``backbone`` command line: parses arguments and calls the runtime, nothing more."""
