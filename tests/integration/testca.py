"""A throw-away certificate authority for the TLS tests, made with the openssl command
(Debian's OpenSSL 3.0) in a temporary folder: EC P-256 keys, SHA-256 signatures.

    with TestCA() as ca:
        good = ca.issue("good", dns=["localhost"], ips=["127.0.0.1"])
        good.crt, good.key         # PEM files: the leaf then the CA (a chain for nginx)
        ca.crt                     # the CA certificate: fotad --ca ca.crt
        expired = ca.issue("old", dns=["localhost"], not_before="20200101000000Z",
                           not_after="20210101000000Z")
        other = TestCA(ca.dir, name="other")   # another CA, same folder

Certificates are signed by `openssl ca` (its -startdate and -enddate give any validity,
past included: OpenSSL 3.0's `x509 -req` has only -days). An IP address goes in the
subjectAltName both as an iPAddress and as a dNSName: mbedTLS 2.28 matches a host that is
an IP literal, as text, against the dNSName entries (and the CN when there is no
subjectAltName); newer verifiers use the iPAddress entry.

`standard(dir)` makes the set the TLS tests use (see its doc)."""
import os
import shutil
import subprocess
import tempfile

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


def available():
    return os.access(OPENSSL, os.X_OK)


def _run(*args, cwd=None):
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


class Cert:
    """A leaf certificate: crt (leaf + CA, PEM), leaf (the leaf alone) and key."""

    def __init__(self, crt, leaf, key):
        self.crt, self.leaf, self.key = crt, leaf, key


class TestCA:
    __test__ = False  # not a unittest case

    def __init__(self, directory=None, name="ca"):
        self.own = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="fota-ca-")
        self.name = name
        self.base = os.path.join(self.dir, name)
        os.makedirs(self.base, exist_ok=True)
        self.key = os.path.join(self.base, "ca.key")
        self.crt = os.path.join(self.base, "ca.crt")
        self.conf = os.path.join(self.base, "ca.cnf")
        with open(os.path.join(self.base, "index.txt"), "w"):
            pass
        with open(os.path.join(self.base, "serial"), "w") as f:
            f.write("1000\n")
        with open(self.conf, "w") as f:
            f.write("""\
[ ca ]
default_ca = tca
[ tca ]
dir = %(d)s
database = %(d)s/index.txt
new_certs_dir = %(d)s
serial = %(d)s/serial
default_md = sha256
policy = pol
unique_subject = no
email_in_dn = no
[ pol ]
commonName = supplied
""" % {"d": self.base})
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.crt, "-days", "3650",
             "-subj", "/CN=openfota test %s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, label, dns=(), ips=(), cn=None, not_before=None, not_after=None,
              key="ec"):
        """A server certificate signed by this CA: CN cn (default: the first name), the
        names in subjectAltName (none: no subjectAltName at all), valid from not_before to
        not_after (YYYYMMDDHHMMSSZ; default: from now for a year); key "ec" (P-256) or
        "rsa" (2048 bits)."""
        kind = key
        out = os.path.join(self.base, label)
        key, csr, leaf, crt = (out + ext for ext in (".key", ".csr", ".leaf.pem", ".crt"))
        names = list(dns) + list(ips)
        cn = cn or (names[0] if names else label)
        newkey = (["-newkey", "rsa:2048"] if kind == "rsa" else
                  ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        _run("req", "-new", *newkey, "-nodes", "-keyout", key, "-out", csr,
             "-subj", "/CN=%s" % cn)
        ext = out + ".ext"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n")
            san = ["DNS:%s" % d for d in dns]
            san += ["IP:%s" % i for i in ips] + ["DNS:%s" % i for i in ips]
            if san:
                f.write("subjectAltName=%s\n" % ",".join(san))
        args = ["ca", "-batch", "-config", self.conf, "-cert", self.crt, "-keyfile", self.key,
                "-in", csr, "-out", leaf, "-extfile", ext, "-notext"]
        if not_before or not_after:
            args += ["-startdate", not_before or "20200101000000Z",
                     "-enddate", not_after or "20491231235959Z"]
        else:
            args += ["-days", "365"]
        _run(*args)
        with open(crt, "w") as f, open(leaf) as a, open(self.crt) as b:
            f.write(a.read() + b.read())
        return Cert(crt, leaf, key)

    def cleanup(self):
        if self.own:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def standard(directory=None):
    """The TLS tests' set, in one folder (a dict; "ca" is the TestCA, whose .dir to remove):
    ca_crt (the CA to trust), good (localhost, 127.0.0.1, ::1), other_name (only
    other.example), expired (localhost and 127.0.0.1, valid in 2020 only), foreign
    (localhost and 127.0.0.1, signed by another CA), foreign_ca_crt."""
    ca = TestCA(directory)
    other = TestCA(ca.dir, name="other-ca")
    return {
        "ca": ca,
        "ca_crt": ca.crt,
        "good": ca.issue("good", dns=["localhost"], ips=["127.0.0.1", "::1"]),
        "other_name": ca.issue("other-name", dns=["other.example"]),
        "expired": ca.issue("expired", dns=["localhost"], ips=["127.0.0.1"],
                            not_before="20200101000000Z", not_after="20210101000000Z"),
        "foreign": other.issue("foreign", dns=["localhost"], ips=["127.0.0.1"]),
        "foreign_ca_crt": other.crt,
    }


if __name__ == "__main__":
    import sys
    s = standard(sys.argv[1] if len(sys.argv) > 1 else None)
    print(s["ca"].dir)
