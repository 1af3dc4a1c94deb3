"""The application: command line, options and the start-up wiring of engine, built-in nodes and plugins."""
