"""fota-server's signed uploads (docs/server-api.md, "Signing keys"): a project may hold
ECDSA P-256 public keys; then only images signed by one of them are taken.

- PUT/GET /api/v1/projects/{key}/keys and POST /projects with "keys": canonical PEM and
  the SHA-256 of the DER key (as `openssl pkey -pubin -outform DER | sha256sum`), the
  project's "keys" count, duplicates kept once, [] to remove them;
- keys made by openssl (ecparam prime256v1) and by `fota keygen`, images signed by
  `fota pack --key`;
- refused with 400 and a reason, nothing kept: an unsigned image ("is not signed"), one
  signed by another key ("does not match any key of the project"), keys that are private,
  of another curve, RSA, garbage, not strings, too many; a project created with a bad key
  is not created; 404, 405, 415 as everywhere;
- a project without keys takes signed and unsigned images alike.

One server for the class on 127.0.0.1 at a free port; keys made once."""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import serverlib
from serverlib import start_class_server, stop_class_server

NAME = "AirM2M_780E_LTE_AT"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
FOTA = os.path.join(serverlib.BUILD, "bin", "fota")
_versions = iter(range(100, 100000))


def openssl(*args, data=None):
    return subprocess.run([OPENSSL, *args], input=data, capture_output=True, check=True,
                          timeout=30).stdout


class SignedUploadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(OPENSSL, os.X_OK):
            raise unittest.SkipTest("openssl is missing (scripts/install-deps)")
        cls.tmp = tempfile.mkdtemp(prefix="fota-keys-")
        cls.key = {}
        for tag in ("a", "b"):  # openssl's P-256 keys
            priv = os.path.join(cls.tmp, tag + ".pem")
            openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", priv)
            cls.key[tag] = (priv, openssl("ec", "-in", priv, "-pubout").decode())
        # One of fota keygen.
        subprocess.run([FOTA, "keygen", "-o", os.path.join(cls.tmp, "c")], check=True,
                       capture_output=True, timeout=30)
        with open(os.path.join(cls.tmp, "c.pub.pem")) as f:
            cls.key["c"] = (os.path.join(cls.tmp, "c.pem"), f.read())
        p384 = openssl("ecparam", "-name", "secp384r1", "-genkey", "-noout")
        cls.p384 = openssl("ec", "-pubout", data=p384).decode()
        rsa = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
        cls.rsa = openssl("pkey", "-pubout", data=rsa).decode()
        with open(cls.key["a"][0]) as f:
            cls.private = f.read()
        start_class_server(cls)

    @classmethod
    def tearDownClass(cls):
        stop_class_server(cls)

    # --- helpers -------------------------------------------------------------------
    def fingerprint(self, pub):
        return hashlib.sha256(openssl("pkey", "-pubin", "-outform", "DER",
                                      data=pub.encode())).hexdigest()

    def image(self, signer=None, name=NAME):
        """A new image (its own version), signed with key signer ("a", "b", "c") or not.
        Returns (path, version)."""
        version = "1.%d" % next(_versions)
        path = os.path.join(self.tmp, "%s-%s.fota" % (signer or "unsigned", version))
        with open(path + ".bin", "wb") as f:
            f.write(os.urandom(20000))
        args = [FOTA, "pack", "--name", name, "--version", version, "-o", path, path + ".bin"]
        if signer:
            args += ["--key", self.key[signer][0]]
        subprocess.run(args, check=True, capture_output=True, timeout=30)
        os.unlink(path + ".bin")
        return path, version

    def upload(self, key, image, expect):
        path, version = image
        r = self.srv.upload(key, path, NAME, version, expect=None)
        self.assertEqual(r.status, expect, r)
        return r

    def put_keys(self, key, keys, expect=200):
        r = self.srv.admin("PUT", "/projects/%s/keys" % key, keys)
        self.assertEqual(r.status, expect, r)
        return r

    def files(self):
        fw = os.path.join(self.srv.data, "firmware")
        return sorted(os.listdir(fw))

    def assert_refused(self, r, status, words):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("application/json"))
        self.assertIn(words, r.json()["error"])

    # --- tests ---------------------------------------------------------------------
    def test_keys_are_set_listed_and_counted(self):
        key = self.srv.project("keys")["key"]
        self.assertEqual(self.srv.admin("GET", "/projects/" + key).json()["keys"], 0)
        self.assertEqual(self.srv.admin("GET", "/projects/%s/keys" % key).json(), {"keys": []})
        a, c = self.key["a"][1], self.key["c"][1]
        sloppy = "\r\n  " + a.replace("\n", "\r\n") + "\n\n"
        r = self.put_keys(key, [sloppy, c, a])  # a given twice: kept once
        want = [{"sha256": self.fingerprint(a), "pem": a},
                {"sha256": self.fingerprint(c), "pem": c}]
        self.assertEqual(r.json(), {"keys": want})
        self.assertEqual(self.srv.admin("GET", "/projects/%s/keys" % key).json(), {"keys": want})
        head = self.srv.admin("HEAD", "/projects/%s/keys" % key)
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(self.srv.admin("GET", "/projects/" + key).json()["keys"], 2)
        # Replaced; then removed.
        self.assertEqual(self.put_keys(key, [c]).json(), {"keys": want[1:]})
        self.assertEqual(self.put_keys(key, []).json(), {"keys": []})
        self.assertEqual(self.srv.admin("GET", "/projects/" + key).json()["keys"], 0)

    def test_uploads_to_a_project_with_keys_must_be_signed_by_one(self):
        key = self.srv.project("signed")["key"]
        self.put_keys(key, [self.key["a"][1], self.key["c"][1]])
        before = self.files()
        r = self.upload(key, self.image(), 400)
        self.assert_refused(r, 400, "image is not signed")
        r = self.upload(key, self.image("b"), 400)
        self.assert_refused(r, 400, "signature does not match any key of the project")
        self.assertEqual(self.srv.firmware(key), [])
        self.assertEqual(self.files(), before, "nothing kept of a refused upload")
        self.assertEqual(glob.glob(os.path.join(self.srv.data, "firmware", ".tmp-*")), [])
        # Signed by either key: taken (openssl's key, fota keygen's key).
        for signer in ("a", "c"):
            img = self.image(signer)
            fw = self.upload(key, img, 201).json()
            self.assertEqual(fw["version"], img[1])
        self.assertIn("signed by key " + self.fingerprint(self.key["c"][1]), self.srv.log())
        # A device gets the signed image as it was uploaded.
        with open(img[0], "rb") as f:
            data = f.read()
        r = self.srv.check(key, "864000000000071", NAME, "1.0")
        self.assertEqual((r.status, r.body), (200, data))
        # Without keys again, unsigned images are taken.
        self.put_keys(key, [])
        self.upload(key, self.image(), 201)

    def test_a_project_without_keys_takes_signed_and_unsigned_images(self):
        key = self.srv.project("open")["key"]
        self.upload(key, self.image(), 201)
        self.upload(key, self.image("b"), 201)

    def test_a_project_created_with_keys(self):
        r = self.srv.admin("POST", "/projects", {"name": "born signed",
                                                 "keys": [self.key["b"][1]]})
        self.assertEqual(r.status, 201, r)
        p = r.json()
        self.assertEqual(p["keys"], 1)
        self.assertEqual(self.srv.admin("GET", "/projects/%s/keys" % p["key"]).json(),
                         {"keys": [{"sha256": self.fingerprint(self.key["b"][1]),
                                    "pem": self.key["b"][1]}]})
        self.assert_refused(self.upload(p["key"], self.image("a"), 400), 400,
                            "does not match any key")
        self.upload(p["key"], self.image("b"), 201)

    def test_bad_keys_are_refused_and_nothing_changes(self):
        key = self.srv.project("bad keys")["key"]
        good = self.key["a"][1]
        self.put_keys(key, [good])
        cases = [
            ([self.private], "private key"),
            ([self.p384], "P-256"),
            ([self.rsa], "P-256"),
            (["hello"], "PEM"),
            ([good + good], "PEM"),
            (["garbage " + good], "PEM"),
            ([good[:60] + "!" + good[61:]], "PEM"),
            ([good.replace("PUBLIC KEY", "CERTIFICATE")], "PEM"),
            ([good, 7], "string"),
            ([None], "string"),
            (good, "JSON"),  # a bare string is no JSON body
            ({"pem": good}, "array"),
            ([good] * 17, "at most 16"),
            (["x" * 20000], "bytes"),
        ]
        for body, words in cases:
            with self.subTest(body=str(body)[:60]):
                r = self.put_keys(key, body, expect=400)
                self.assert_refused(r, 400, words)
        self.assertEqual(self.srv.admin("GET", "/projects/%s/keys" % key).json()["keys"],
                         [{"sha256": self.fingerprint(good), "pem": good}])
        # The private key was never stored.
        self.assertNotIn("PRIVATE", json.dumps(self.srv.admin("GET", "/projects/%s/keys" %
                                                              key).json()))
        # A project with a bad key is not created at all.
        n = len(self.srv.admin("GET", "/projects").json())
        for keys in ([self.p384], [good, "x"], "x", [good] * 17):
            r = self.srv.admin("POST", "/projects", {"name": "never", "keys": keys})
            self.assertEqual(r.status, 400, r)
        self.assertEqual(len(self.srv.admin("GET", "/projects").json()), n)

    def test_errors_of_the_route(self):
        key = self.srv.project("route")["key"]
        good = [self.key["a"][1]]
        self.assertEqual(self.srv.admin("GET", "/projects/%s/keys" % ("0" * 32)).status, 404)
        self.assertEqual(self.srv.admin("PUT", "/projects/%s/keys" % ("0" * 32), good).status,
                         404)
        self.assertEqual(self.srv.admin("GET", "/projects/nokey/keys").status, 404)
        r = self.srv.admin("POST", "/projects/%s/keys" % key, good)
        self.assertEqual((r.status, r.headers.get("Allow")), (405, "GET, PUT"))
        r = self.srv.admin("PUT", "/projects/%s/keys" % key, raw=json.dumps(good).encode(),
                           ctype="text/plain")
        self.assertEqual(r.status, 415, r)
        r = self.srv.admin("PUT", "/projects/%s/keys" % key, raw=b"[", ctype="application/json")
        self.assertEqual(r.status, 400, r)
        r = self.srv.admin("PUT", "/projects/%s/keys" % key, token="wrong")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.srv.admin("GET", "/projects/%s/keys" % key).json(), {"keys": []})


if __name__ == "__main__":
    unittest.main()
