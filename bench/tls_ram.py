#!/usr/bin/python3
"""bench/tls_ram.py [BUILD] - the heap of an HTTPS download through the POSIX net port,
with and without max_fragment_length, next to what a small device's mbedTLS would need.

It builds bench/tls_ram.c (malloc/calloc/free counted with -Wl,--wrap around net_posix.c
and the static mbedTLS libraries), makes a test CA and two server certificates
(tests/integration/testca.py: EC P-256 and RSA 2048), serves a 256 KiB file from a
private nginx with TLS (OpenSSL 3, which honours max_fragment_length), and downloads it
once per certificate and MFL (none, 4096, 2048, 1024, 512). Figures in bytes; see
bench/tls_ram.c for each column. Then the CA bundle of the system, parsed, for scale.
It never fails on a figure, only when something does not work."""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, sys.argv[1] if len(sys.argv) > 1 else
                     os.environ.get("FOTA_BUILD", "build"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import nginx  # noqa: E402
import testca  # noqa: E402

MFLS = (0, 4096, 2048, 1024, 512)
SIZE = 256 * 1024
COLS = ("hs_peak", "session", "xfer_peak", "in_buf", "out_buf", "mfl_used")


def build():
    out = os.path.join(BUILD, "bench", "tls_ram")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["make", "--no-print-directory", "-C", ROOT, "BUILD=" + os.path.relpath(
        BUILD, ROOT), os.path.join(os.path.relpath(BUILD, ROOT), "lib", "libfota.a")],
        check=True)
    subprocess.run(["cc", "-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-I" + os.path.join(
        ROOT, "include"), os.path.join(ROOT, "bench", "tls_ram.c"),
        os.path.join(BUILD, "lib", "libfota.a"),
        "-Wl,--wrap=malloc,--wrap=calloc,--wrap=free",
        "-Wl,-Bstatic", "-lmbedtls", "-lmbedx509", "-lmbedcrypto", "-Wl,-Bdynamic", "-lanl",
        "-o", out], check=True)
    return out


def run(prog, port, ca, mfl, system=False):
    args = [prog, "127.0.0.1", str(port), "/fw.bin", ca, str(mfl)] + (["system"] if system
                                                                       else [])
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode:
        sys.exit("tls_ram: %s %s" % (r.stdout, r.stderr))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", r.stdout)}


def main():
    if not nginx.available() or not testca.available():
        sys.exit("tls_ram: nginx and openssl are needed (scripts/install-deps)")
    prog = build()
    with tempfile.TemporaryDirectory(prefix="fota-tlsram-") as d:
        www = os.path.join(d, "www")
        os.mkdir(www)
        with open(os.path.join(www, "fw.bin"), "wb") as f:
            f.write(os.urandom(SIZE))
        ca = testca.TestCA(os.path.join(d, "ca"))
        certs = [("EC P-256", ca.issue("ec", ips=["127.0.0.1"])),
                 ("RSA 2048", ca.issue("rsa", ips=["127.0.0.1"], key="rsa"))]
        print("HTTPS GET of %d bytes, 1 KiB reads; heap in bytes (mbedTLS %s, Debian's "
              "build)" % (SIZE, "2.28"))
        print("%-9s %5s  %s" % ("cert", "MFL", "  ".join("%9s" % c for c in COLS)))
        first = None
        for label, cert in certs:
            with nginx.Nginx(www, cert=cert.crt, key=cert.key) as ng:
                for mfl in MFLS:
                    r = run(prog, ng.port, ca.crt, mfl)
                    if r["body"] < SIZE:
                        sys.exit("tls_ram: short download: %r" % r)
                    first = first or r
                    print("%-9s %5s  %s" % (label, mfl or "none",
                                            "  ".join("%9d" % r[c] for c in COLS)))
        print("port TLS state (entropy, DRBG, config): %d; test CA parsed: %d" % (
            first["conf"], first["ca"]))
        if os.path.exists("/etc/ssl/certs/ca-certificates.crt"):
            r = run(prog, 9, ca.crt, 0, system=True)
            n = open("/etc/ssl/certs/ca-certificates.crt").read().count("BEGIN CERT")
            print("the system's CA bundle parsed (%d certificates): %d" % (n, r["ca"]))

if __name__ == "__main__":
    main()
