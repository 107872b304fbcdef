"""Report renderers: one small module per format, each a pure function of a `Run`."""
