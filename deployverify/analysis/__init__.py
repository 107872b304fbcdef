"""Static analysis of the bundle's code: the module index and import graph, the call graph, the stub rules."""
