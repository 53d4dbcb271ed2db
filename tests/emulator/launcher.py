"""pipeline-run's local AWS: moto's server with fidelity patches applied first.

Each module in patches/ restores one AWS behaviour that moto 5.2.5 lacks and that pipeline-run
depends on; see README.md ("Local AWS") for the list, the reasons and the remaining limits.
"""
import argparse
import importlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from patches import PATCH_MODULES  # noqa: E402


def apply_patches():
    applied = []
    for name in PATCH_MODULES:
        module = importlib.import_module(f"patches.{name}")
        module.apply()
        applied.append(name)
    return applied


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", "-p", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1",
                        help="loopback only; the emulator is never meant to be reachable from elsewhere")
    parser.add_argument("--raw", action="store_true", help="start plain moto without the fidelity patches")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="exit when standard input closes: test fixtures hold the pipe, so the server "
                             "never outlives the test process that started it, however that process ends")
    args = parser.parse_args(argv)
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        parser.error("--host must be a loopback address")

    if args.exit_with_stdin:
        import threading

        def exit_on_eof():
            sys.stdin.buffer.read()
            os._exit(0)

        threading.Thread(target=exit_on_eof, daemon=True).start()

    applied = [] if args.raw else apply_patches()
    endpoint = f"http://{args.host}:{args.port}"
    print(endpoint, flush=True)
    print(f"emulator: moto on {endpoint} with patches: {', '.join(applied) or 'none (raw)'}",
          file=sys.stderr, flush=True)

    from moto.server import main as moto_main
    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
