"""The command-line programs: one module per console command, each parsing its flags and calling the library.

`pyproject.toml` installs the entry points of `bang_spmd.cli.console` as `bang-quickstart`, `bang-train`, ...; each
runs the `main(argv)` of the module named like the command (`bang-train` -> `bang_spmd.cli.train`,
`bang-prepare-data` -> `prepare_data`, `bang-benchmark-training` -> `benchmark_training`), which is also
`python -m bang_spmd.cli.<module>`. `benchmark_flags` holds the flags the two benchmarks share; `bang-convert` and
`bang-convert-prophetnet` run the converters of `modeling_bang`.
"""
