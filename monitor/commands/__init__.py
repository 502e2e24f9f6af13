"""One module per CLI command, each with ``main(args: argparse.Namespace) -> int``.

These modules are part of the command line (with ``monitor/cli.py`` and ``monitor/app.py`` they form
the composition root), so they may import concrete checks, alert channels and simulators.
"""
