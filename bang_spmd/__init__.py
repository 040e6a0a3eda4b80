"""The command-line programs of the bang-spmd package: quickstart, data, training, evaluation and benchmarks.

Each module has a `main(argv)` that parses its flags (`--help` lists them) and is installed as a console command by
`pyproject.toml` (`bang-quickstart`, `bang-train`, ...; `bang_spmd.cli` maps the names). The model code lives in
`modeling_bang` (it ships to the Hub as remote code) and the training code in
`bang_spmd.trainers` (the repository folder `trainers/`).
"""
