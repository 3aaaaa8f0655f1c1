"""The demo: boots an emulated module (fotad) on a pseudo-terminal and drives it with a
real serial client (pyserial), printing the session as a host engineer would see it."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from fotalib import Fotad  # noqa: E402


def show(m, line):
    print("-> " + line)
    for text in m.at(line).split("\r\n"):
        if text:
            print("<- " + text)


def main():
    tmp = tempfile.mkdtemp(prefix="openfota-demo-")
    state = os.path.join(tmp, "module")
    try:
        print("== boot a new module (state in %s)" % state)
        m = Fotad(state, "--imei", "864000000000008").start()
        print("   (%s)" % m.log.decode().strip().splitlines()[-1])
        for line in ("ATE0", "ATI", "AT+CGSN", "AT+CMEE=2", "AT+UPGRADE=?",
                     'AT+UPGRADE="KEY"', 'AT+UPGRADE="KEY","a1b2c3d4e5f6"',
                     'AT+UPGRADE="AUTO",0', 'AT+UPGRADE="PERIOD",59',
                     'AT+UPGRADE="PERIOD",3600,1', 'AT+UPGRADE="URL","ftp://x/fw.bin"',
                     "AT+UPGRADE?"):
            show(m, line)
        print("== power cut (kill -9) and boot again: saved values stay, unsaved ones go")
        m.stop(9)
        m = Fotad(state).start()
        for line in ("ATE0", 'AT+UPGRADE="KEY"', 'AT+UPGRADE="AUTO"', 'AT+UPGRADE="PERIOD"'):
            show(m, line)
        m.stop()
        print("== done")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
