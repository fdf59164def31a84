# SPDX-License-Identifier: MIT
# Runs every tests/can/test_*.py in this one Python process (start-up is slow in the VM), prints
# each file's result and a summary; exits 1 when any failed, 77 when every file skipped.
#
# Inside the test VM (tests/vm/README.md), from the source root:
#   tests/vm/run-in-vm --rw build -- env SOCKBRIDGED=$PWD/build/src/sockbridged python3 tests/can/run_all.py
# Arguments, when given, are file names (test_can_listener.py) to run instead of all of them.

import glob
import os
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.dont_write_bytecode = True


def main():
    files = sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    if len(sys.argv) > 1:
        wanted = {os.path.basename(a) for a in sys.argv[1:]}
        files = [f for f in files if os.path.basename(f) in wanted]
    results = []
    started = time.monotonic()
    for path in files:
        name = os.path.basename(path)
        print(f"##### {name}", flush=True)
        t0 = time.monotonic()
        saved_argv = sys.argv
        sys.argv = [path]
        try:
            runpy.run_path(path, run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException as e:  # an error outside any case (an import, say)
            import traceback
            traceback.print_exc(file=sys.stdout)
            code = 1
        finally:
            sys.argv = saved_argv
        verdict = {0: "PASS", 77: "SKIP"}.get(code, "FAIL")
        results.append((name, verdict, time.monotonic() - t0))
        print(f"##### {verdict} {name} ({time.monotonic() - t0:.1f}s)", flush=True)
    print("\n===== CAN suite summary", flush=True)
    for name, verdict, seconds in results:
        print(f"{verdict:5} {name} ({seconds:.1f}s)")
    failed = [r for r in results if r[1] == "FAIL"]
    passed = [r for r in results if r[1] == "PASS"]
    print(f"{len(passed)} passed, {len(failed)} failed, {len(results) - len(passed) - len(failed)} skipped "
          f"in {time.monotonic() - started:.1f}s", flush=True)
    if failed:
        sys.exit(1)
    if results and not passed:
        sys.exit(77)
    sys.exit(0)


if __name__ == "__main__":
    main()
