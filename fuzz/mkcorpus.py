#!/usr/bin/env python3
"""fuzz/mkcorpus.py [FOTA_TOOL] - writes the seed corpora of fuzz/corpus/<target>/.

Run from the top of the tree after `make` (the image seeds are made by build/bin/fota
pack, or FOTA_TOOL). The seeds are committed; this script says how they were made and
makes them again. Each file starts with the setup bytes its target reads first (see the
comment at the top of fuzz/fuzz_<target>.c).
"""
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_at: [flags, cut_at, chunk mode, seed] + host bytes -------------------------

def at_seeds():
    lines = {
        "basic": b"AT\rATE0\rATI\rAT+CGMR\rAT+CGSN\rAT+CSQ\rAT+CREG?\rAT+CFUN?\r",
        "cmee": b"AT+CMEE=?\rAT+CMEE?\rAT+CMEE=1\rAT+UPGRADE=\"AUTO\",7\rAT+CMEE=2\r"
                b"AT+UPGRADE=\"KEY\",\"a\"b\"\rAT+CMEE\rAT+FOO\r",
        "key": b"AT+UPGRADE=\"KEY\",\"a1b2c3\"\r\nAT+UPGRADE=\"KEY\"\r\n",
        "url": b"AT+UPGRADE=\"URL\",\"http://iot.openluat.com/fw/air780e.bin?x=1#f\",1\r"
               b"AT+UPGRADE=\"URL\"\rAT+UPGRADE=\"URL\",\"\"\r",
        "url6": b"at+upgrade=\"url\",\"https://[2001:db8::1]:8443/a/b?c=d\"\r",
        "auto": b"AT+UPGRADE=\"AUTO\",0\rAT+UPGRADE=\"PERIOD\",3600,0\r"
                b"AT+UPGRADE=\"PERIOD\",59\rAT+UPGRADE=\"PERIOD\",4294967296\r",
        "status": b"AT+UPGRADE?\rAT+UPGRADE=?\rAT+UPGRADE\rAT+UPGRADE?\r",
        "multi": b"ATE1I;+CMEE=2;+UPGRADE=\"AUTO\",1;+UPGRADE?\r",
        "noise": b"\x00\xffxyAT+CSQ\r\n garbage\rA\x08AT +CFUN = 0\rAT+CFUN=1,2\r",
        "edit": b"AT+UPGRADE=\"KEY\",\"abc\x08\x08x\x7f\"\r",
        "long": b"AT+UPGRADE=\"URL\",\"http://h/" + b"a" * 300 + b"\"\rAT\r",
        "toolong": b"AT+UPGRADE=\"URL\",\"http://h/" + b"b" * 240 + b"\",0\r",
        "basicnum": b"ATE\rATE2\rATI0\rATI1\rATE?\rAT&F\rAT^X\rAT$Y=1\r",
    }
    heads = [b"\x00\x00\x00\x00", b"\x10\x00\x05\x01", b"\x31\x00\xff\x07",
             b"\x51\x00\x20\x03"]
    for i, (name, text) in enumerate(lines.items()):
        put("fuzz_at", name, heads[i % len(heads)] + text)
    # Many saves: compaction of the settings' NV, then power cuts in the middle of it.
    saves = b"".join(b"AT+UPGRADE=\"KEY\",\"k%03d\"\r" % i for i in range(70))
    put("fuzz_at", "saves", b"\x01\x00\xff\x09" + saves)
    put("fuzz_at", "saves-cut", b"\x06\x5d\xff\x09" + saves)
    put("fuzz_at", "saves-torn", b"\x0f\x47\xff\x09" + saves[:40 * 24])
    put("fuzz_at", "status-cut", b"\x3c\x03\x00\x00" + b"AT+UPGRADE\rAT+UPGRADE\r" * 4)


# ---- fuzz_http: [flags, chunk mode, seed] + response ---------------------------------

def http_seeds():
    body = b"FOTA" + bytes(range(60))
    js = b'{"code": 27, "msg": "\\u5df2\\u662f"}  '
    rs = {
        "200": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/"
               b"octet-stream\r\nETag: \"abc123\"\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00"
               b" GMT\r\n\r\n" % len(body) + body,
        "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                   b"5;name=val\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
                   b"X-Trailer: 1\r\n\r\n",
        "206": b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 100-163/1000\r\n"
               b"Content-Length: 64\r\nETag: W/\"x\"\r\n\r\n" + body,
        "302": b"HTTP/1.1 302 Found\r\nLocation: http://cdn.example.com/fw/v2.bin?sig=1\r\n"
               b"Content-Length: 0\r\n\r\n",
        "404json": b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(js) + js,
        "100": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        "http10": b"HTTP/1.0 200 OK\nServer: x\n\nbody until the close",
        "304": b"HTTP/1.1 304 Not Modified\r\nETag: \"abc123\"\r\nConnection: keep-alive, close\r\n\r\n",
        "416": b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */1000\r\n"
               b"Content-Length: 0\r\n\r\n",
        "204": b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n",
        "te-bad": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "long-etag": b"HTTP/1.1 200 OK\r\nETag: \"" + b"e" * 330 + b"\"\r\nX-Long: " +
                     b"y" * 400 + b"\r\nContent-Length: 1\r\n\r\nZ",
        "head": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
    }
    heads = [b"\x00\xff\x01", b"\x00\x00\x00", b"\x00\x07\x05", b"\x04\x20\x09"]
    for i, (name, r) in enumerate(rs.items()):
        h = heads[i % len(heads)]
        if name == "head":
            h = b"\x01\x03\x02"
        put("fuzz_http", name, h + r)
    put("fuzz_http", "stop", b"\x02\x10\x03" + rs["200"])


# ---- fuzz_url: the URL -------------------------------------------------------------

def url_seeds():
    urls = [
        b"http://iot.openluat.com/api/site/firmware_upgrade?project_key=a&imei=1",
        b"https://example.com:8443/fw/air780e.fota#frag",
        b"HTTP://[2001:db8::1]:80/",
        b"https://[::ffff:192.0.2.1]?q=1",
        b"http://10.0.0.1:65535",
        b"http://h_~.-%41/a%20b",
        b"http://user:pw@host/",
        b"http://host:0/",
        b"http://host:65536/",
        b"ftp://host/",
        b"http://" + b"a" * 250,
    ]
    for i, u in enumerate(urls):
        put("fuzz_url", "url%02d" % i, u)


# ---- fuzz_image: the image -----------------------------------------------------------

def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


def image(payload, name=b"AirM2M_780E_LTE_AT", version=b"1.2.3", flags=0, hdr_size=128,
          tlvs=None, counter=0):
    """An image as docs/image-format.md says (for the variants fota pack does not make)."""
    pre = []
    for t, v in (tlvs or []):
        pre.append(struct.pack("<HH", t, len(v)) + v)
    trailer_len = sum(len(x) for x in pre) + 36
    h = bytearray(hdr_size)
    struct.pack_into("<IHHIIII", h, 0, 0x41544F46, hdr_size, 1, flags, len(payload),
                     trailer_len, counter)
    h[28:28 + len(name)] = name
    h[60:60 + len(version)] = version
    struct.pack_into("<I", h, hdr_size - 4, crc(bytes(h[:hdr_size - 4])))
    digest = hashlib.sha256(bytes(h) + payload).digest()
    return bytes(h) + payload + b"".join(pre) + struct.pack("<HH", 1, 32) + digest


def image_seeds(tool):
    payload = b"tiny firmware payload\n"
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "fw.bin")
        with open(p, "wb") as f:
            f.write(payload)
        for name, extra in (("packed", []), ("packed-crash", ["--crash-on-boot",
                                                              "--counter", "7"])):
            out = os.path.join(d, name)
            subprocess.run([tool, "pack", "--name", "AirM2M_780E_LTE_AT", "--version",
                            "AirM2M_780E_V1121_LTE_AT", "-o", out] + extra + [p], check=True)
            with open(out, "rb") as f:
                put("fuzz_image", name, f.read())
    with open(os.path.join(CORPUS, "fuzz_image", "packed"), "rb") as f:
        img = f.read()
    put("fuzz_image", "truncated", img[:100])
    put("fuzz_image", "hdr-only", img[:128])
    put("fuzz_image", "pad-tlv", image(payload, tlvs=[(0, b"\0" * 8), (0x8001, b"x")]))
    put("fuzz_image", "hdr256", image(b"\x01" * 3, hdr_size=256))
    bad = bytearray(img)
    bad[-1] ^= 1
    put("fuzz_image", "bad-hash", bytes(bad))
    put("fuzz_image", "no-hash", image(payload, tlvs=[(0, b"")])[:-36])


# ---- fuzz_json: the body --------------------------------------------------------------

def json_seeds():
    js = [
        b'{"code": 27, "msg": "\\u5df2\\u662f\\u6700\\u65b0\\u7248\\u672c"}',
        b'{"code":0}',
        b'{"msg":"no code","data":{"code":5},"list":[1,2.5e-3,true,false,null,"s"]}',
        b'{"code":1,"code":"x"}',
        b'{"code":-2147483648}',
        b'{"code":2147483648}',
        b'{"code":1.0}',
        b' {"\\u0063ode":3, "code" : 4 } \n',
        b'{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"code":9}',
        b'[]',
        b'{}',
        b'{"code":01}',
        b'{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    ]
    for i, j in enumerate(js):
        put("fuzz_json", "json%02d" % i, j)


# ---- fuzz_nv: [cfg, cut_at, nops] + ops + area -------------------------------------

HALF = 1024
COMMIT = bytes([0x3C, 0xA5, 0x5A, 0xC3])


def al(v, p):
    return (v + p - 1) // p * p


def nv_half(gen, recs, p=1, valid=True):
    """A half: header and records [(type, payload, seq, flags)] where flags may hold
    'badcrc' or 'torn' (no commit field)."""
    h = bytearray(b"\xff" * HALF)
    if valid:
        hd = struct.pack("<IIBBBB", 0x564E5446, gen, 1, p, 0, 0)
        h[0:16] = hd + struct.pack("<I", crc(hd))
    off = 16
    cn = max(4, p)
    for t, payload, seq, fl in recs:
        body = struct.pack("<HBBHI", 0x5652, t, 0, len(payload), seq) + payload
        c = crc(body) ^ (1 if "badcrc" in fl else 0)
        body += struct.pack("<I", c)
        body += b"\xff" * (al(14 + len(payload), p) - len(body))
        h[off:off + len(body)] = body
        if "torn" not in fl:
            h[off + len(body):off + len(body) + cn] = (COMMIT * 4)[:cn]
        off += len(body) + cn
    return bytes(h)


def settings_rec(key=b"a1b2c3", url=b"", period=86400, auto=1):
    return struct.pack("<BBIB", 1, auto, period, len(key)) + key + \
        struct.pack("<H", len(url)) + url


def nv_seeds():
    def op(kind, t, length, seed=0):
        ti = [1, 2, 3, 4, 5, 200, 0, 255].index(t)
        if length < 64:
            b1, b2 = length, seed & 0x7F
        else:
            b1, b2 = length & 0xFF, 0x80 | (length >> 8)
        return bytes([kind | ti << 2, b1, b2])

    script = [op(0, 1, 40), op(0, 3, 7), op(2, 1, 0), op(1, 1, 0), op(0, 1, 300),
              op(0, 2, 500), op(0, 4, 20), op(3, 1, 0), op(0, 1, 512), op(0, 5, 513),
              op(0, 0, 3), op(0, 255, 3), op(0, 200, 60), op(2, 200, 10), op(0, 1, 41)]
    s = b"".join(script)
    ops = bytes([0, 0, len(script)]) + s
    put("fuzz_nv", "blank", ops)
    put("fuzz_nv", "blank-p16-4sec", bytes([7, 0, len(script)]) + s)
    put("fuzz_nv", "blank-cut", bytes([8, 9, len(script)]) + s)
    put("fuzz_nv", "blank-torn", bytes([0x19, 14, len(script)]) + s)
    recs = [(1, settings_rec(), 0, ""), (3, b"\x02\x00\x00\xc8\x00\x00\x00", 1, ""),
            (2, b"864000000000008", 2, ""), (1, settings_rec(b"k2"), 3, "")]
    valid = nv_half(5, recs)
    put("fuzz_nv", "valid", ops + valid + b"\xff" * HALF)
    put("fuzz_nv", "valid-half1", ops + nv_half(4, recs[:2]) + nv_half(5, recs))
    put("fuzz_nv", "wrapped-gen", ops + nv_half(0xFFFFFFFF, recs[:1]) + nv_half(0, recs))
    put("fuzz_nv", "torn-rec", ops + nv_half(1, recs + [(4, b"x" * 30, 4, "torn")]))
    put("fuzz_nv", "bad-crc", ops + nv_half(1, [recs[0], (1, b"zz", 1, "badcrc"), recs[2]]))
    put("fuzz_nv", "p8", bytes([2, 0, len(script)]) + s + nv_half(9, recs, p=8))
    put("fuzz_nv", "p-mismatch", ops + nv_half(9, recs, p=4))
    put("fuzz_nv", "garbage-tail", ops + valid[:600] + bytes(range(256)) + b"\x00" * 100)
    put("fuzz_nv", "invalid-hdr", ops + nv_half(3, recs, valid=False) + nv_half(2, recs[:1]))


# ---- fuzz_boot: [cfg, cut_at, staged size le16] + journal (1536) [+ R + S] ---------------

# boot.c: a 36-byte record (CRC last), padded to 48, then a 16-byte commit unit; 8 slots
# then the bitmap in a half of 3 sectors of 256.
JSLOT, JBODY, JHALF_ = 64, 48, 768


def jrec(gen, state, new=900, old=600, n=4, flags=0, result=0, floor=0, counter=0):
    b = struct.pack("<IIBBhIIIII", 0x4C4E4A46, gen, state, flags, result, new, old, n,
                    floor, counter)
    b += struct.pack("<I", crc(b))
    return b + b"\xff" * (JBODY - len(b)) + b"\xc3" * 16


def journal(half0=(), half1=(), bitmap0=0, p=1):
    """Two halves of records [(slot, record)], the first bitmap0 half-steps of half 0
    marked done (program units of p bytes of 0x00)."""
    j = bytearray(b"\xff" * (2 * JHALF_))
    for h, recs in ((0, half0), (1, half1)):
        for slot, r in recs:
            j[h * JHALF_ + slot * JSLOT:h * JHALF_ + slot * JSLOT + JSLOT] = r
    j[8 * JSLOT:8 * JSLOT + bitmap0 * p] = b"\0" * (bitmap0 * p)
    return bytes(j)


def boot_seeds():
    seeds = {
        "blank": (b"\x20\0\x84\x03", b""),
        "staged": (b"\x00\0\0\0", journal([(0, jrec(1, 1))])),
        "staged-cut": (b"\x04\x05\0\0", journal([(0, jrec(1, 1))])),
        "staged-torn": (b"\x0d\x09\0\0", journal([(0, jrec(1, 1))])),
        "swapping": (b"\x00\0\0\0", journal([(0, jrec(2, 2))], [(0, jrec(1, 1))], 3)),
        "swapped": (b"\x10\0\0\0", journal([(0, jrec(2, 2)), (1, jrec(2, 3))])),
        "trial": (b"\x00\0\0\0", journal([(0, jrec(2, 2)), (1, jrec(2, 3)),
                                          (2, jrec(2, 4))])),
        "reverting": (b"\x01\0\0\0", journal([], [(0, jrec(3, 6, result=-203))], 0, 4)),
        "confirmed": (b"\x60\0\x84\x03", journal([(0, jrec(2, 5))])),
        "refused": (b"\x22\0\x00\x04", journal([(0, jrec(1, 8, result=-203))])),
        "full-half": (b"\x20\0\x10\x02", journal([(i, jrec(1, 5 if i % 2 else 8))
                                                    for i in range(8)])),
        "bad-n": (b"\x00\0\0\0", journal([(0, jrec(2, 2, n=9))])),
        # Anti-rollback: the fake image's counter is its size & 3 (R: 600 -> 0, S: 900 -> 0);
        # a floor of 1 refuses the staged image, a confirmed one raises the floor.
        "staged-floor": (b"\x00\0\0\0", journal([(0, jrec(1, 1, floor=1))])),
        "confirmed-floor": (b"\x20\0\x87\x03", journal([(0, jrec(2, 5, floor=3,
                                                                   counter=3))])),
        "trial-counter": (b"\x10\0\0\0", journal([(0, jrec(2, 2)), (1, jrec(2, 3)),
                                                  (2, jrec(2, 4, counter=2))])),
    }
    for name, (head, j) in seeds.items():
        put("fuzz_boot", name, head + j)
    # Setup bit 7 makes the harness fix every record's CRC: mutations of a record's
    # fields then reach the code behind the CRC check.
    for name in ("trial", "swapped", "reverting", "swapping"):
        head, j = seeds[name]
        put("fuzz_boot", name + "-crcfix", bytes([head[0] | 0x80]) + head[1:] + j)
    # Found by fuzz_boot: a committed TRIAL / SWAPPED record whose n (sectors to swap)
    # exceeds slot_sectors. jmount checks n only for SWAPPING and REVERTING; the revert
    # that follows runs move() with that n and erases and copies sectors past S: the
    # journal (n = 5, 6) and the NV area (n = 9). Fixed in 90c5f14 (jmount refuses them);
    # kept as regression seeds.
    put("fuzz_boot", "crash-trial-n9-erases-nv", b"\0\0\0\0" + journal([(0, jrec(2, 4, n=9))]))
    put("fuzz_boot", "crash-swapped-n5", b"\0\0\0\0" + journal([(0, jrec(2, 3, n=5))]))
    # The same with n = 0: the revert moves nothing, and a cut after its REVERTING record
    # leaves a journal jmount refuses (CORRUPT) at every boot: no update ever again.
    put("fuzz_boot", "crash-trial-n0-cut", b"\x24\x05\x84\x03" + journal([(0, jrec(2, 4, n=0))]))


# ---- fuzz_srv_req: [setup] + requests "ctl METHOD TARGET\nheaders\n\nbody" joined by SEP --

SRV_SEP = b"\n~~~\n"
TOKEN = b"fuzz-admin-token"
KEY1 = b"00112233445566778899aabbccddeeff"
KEY2 = b"ffeeddccbbaa99887766554433221100"
AUTH = b"Authorization: Bearer " + TOKEN + b"\n"


def srv_req(method, target, headers=b"", body=b"", ctl=0):
    return bytes([ctl]) + method + b" " + target + b"\n" + headers + b"\n" + body


# A P-256 key for the seeds only (signed uploads to a project with keys): not a secret.
SEED_KEY = b"""-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIGLC/dymehL48JsGWgPtODgXSzon0nOClf8R+CrxZFdMoAoGCCqGSM49
AwEHoUQDQgAEPaQ90BlOLQv42DnoLF2scjbaaIIAxWR85dnUU/Bv+K0UCjli3uVn
4JCWlXeea5ydoUtZSk+vJ9TE1pPNeJ+RIA==
-----END EC PRIVATE KEY-----
"""
SEED_PUB = (b"-----BEGIN PUBLIC KEY-----\\n"
            b"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEPaQ90BlOLQv42DnoLF2scjbaaIIA\\n"
            b"xWR85dnUU/Bv+K0UCjli3uVn4JCWlXeea5ydoUtZSk+vJ9TE1pPNeJ+RIA==\\n"
            b"-----END PUBLIC KEY-----\\n")  # as a JSON string's content


def signed_image(tool, version, counter=0):
    with tempfile.TemporaryDirectory() as d:
        key, pay, out = (os.path.join(d, n) for n in ("k.pem", "fw.bin", "fw.fota"))
        with open(key, "wb") as f:
            f.write(SEED_KEY)
        with open(pay, "wb") as f:
            f.write(b"signed tiny firmware payload\n")
        subprocess.run([tool, "pack", "--name", "AirM2M_780E_LTE_AT", "--version", version,
                        "--counter", str(counter), "--key", key, "-o", out, pay], check=True)
        with open(out, "rb") as f:
            return f.read()


def srv_seeds(tool):
    with open(os.path.join(CORPUS, "fuzz_image", "packed"), "rb") as f:
        img = f.read()
    simg = signed_image(tool, "V9", 3)
    dev = b"/api/site/firmware_upgrade?project_key=" + KEY1 + b"&firmware_name=AirM2M_780E_LTE_AT"
    J = b"Content-Type: application/json\n"
    seeds = {
        "health": [srv_req(b"GET", b"/healthz"), srv_req(b"HEAD", b"/metrics"),
                   srv_req(b"POST", b"/healthz", b"", b"x")],
        "device-offer": [srv_req(b"GET", dev + b"&imei=864000000000001&version=V1")],
        "device-listed": [srv_req(b"GET", dev + b"&imei=864000000000008&version=V2")],
        "device-range": [srv_req(b"GET", dev + b"&imei=864000000000001&version=V1",
                                 b"Range: bytes=100-199\n"),
                         srv_req(b"GET", dev + b"&imei=864000000000001&version=V1",
                                 b"Range: bytes=-50\nIf-Range: \"abc\"\n", ctl=0x10),
                         srv_req(b"HEAD", dev + b"&imei=864000000000001&version=V1",
                                 b"Range: bytes=5000-\n")],
        "device-refusals": [srv_req(b"GET", b"/api/site/firmware_upgrade?imei=1"),
                            srv_req(b"GET", dev + b"&imei=861111111111111&version=0"),
                            srv_req(b"GET", dev + b"&imei=862222222222222&version=V1"),
                            srv_req(b"GET", dev + b"&mac=AA:BB:CC&version=V9"),
                            srv_req(b"GET", b"/api/site/firmware_upgrade?project_key=" + KEY2 +
                                    b"&firmware_name=nope&uid=u-1"),
                            srv_req(b"GET", b"/api/site/firmware_upgrade?imei=%ZZ")],
        "device-loop": [srv_req(b"GET", dev + b"&imei=864000000000002&version=V1")] * 8,
        "admin-list": [srv_req(b"GET", b"/api/v1/projects", AUTH),
                       srv_req(b"GET", b"/api/v1/projects/" + KEY1, AUTH),
                       srv_req(b"GET", b"/api/v1/projects/" + KEY1 + b"/firmware", AUTH),
                       srv_req(b"GET", b"/api/v1/projects/" + KEY1 + b"/devices", AUTH),
                       srv_req(b"GET", b"/api/v1/projects/" + KEY1 + b"/stats", AUTH),
                       srv_req(b"GET", b"/api/v1/projects/" + KEY1 + b"/firmware/2/devices", AUTH),
                       srv_req(b"GET", b"/api/v1/projects/" + KEY1 + b"/keys", AUTH)],
        "admin-auth": [srv_req(b"GET", b"/api/v1/projects"),
                       srv_req(b"GET", b"/api/v1/projects", b"Authorization: Bearer nope\n"),
                       srv_req(b"GET", b"/api/v1/projects", b"Authorization: Basic Zm9vOmJhcg==\n"),
                       srv_req(b"GET", b"/api/v1/projects", b"authorization:  bearer\t" + TOKEN + b" \n"),
                       srv_req(b"DELETE", b"/api/v1/projects", AUTH)],
        "admin-create": [srv_req(b"POST", b"/api/v1/projects", AUTH + J, b'{"name":"new \\u00e9"}'),
                         srv_req(b"POST", b"/api/v1/projects", AUTH + J, b'{"name":"a","x":1}', ctl=1),
                         srv_req(b"POST", b"/api/v1/projects", AUTH + b"Content-Type: text/plain\n", b"{}"),
                         srv_req(b"POST", b"/api/v1/projects", AUTH + J, b'[1,2', ctl=2)],
        "admin-patch": [srv_req(b"PATCH", b"/api/v1/projects/" + KEY1 + b"/firmware/1", AUTH + J,
                                b'{"enabled":false,"all_devices":true}'),
                        srv_req(b"GET", dev + b"&imei=864000000000001&version=V1"),
                        srv_req(b"PUT", b"/api/v1/projects/" + KEY1 + b"/firmware/1/devices", AUTH + J,
                                b'["864000000000001","bad id"]'),
                        srv_req(b"PUT", b"/api/v1/projects/" + KEY1 + b"/firmware/2/devices", AUTH + J,
                                b'["864000000000001","864000000000001"]')],
        "admin-delete": [srv_req(b"DELETE", b"/api/v1/projects/" + KEY1 + b"/firmware/1", AUTH),
                         srv_req(b"DELETE", b"/api/v1/projects/" + KEY2, AUTH),
                         srv_req(b"POST", b"/api/v1/projects/" + KEY1 + b"/devices/862222222222222/unban", AUTH),
                         srv_req(b"GET", dev + b"&imei=862222222222222&version=V1")],
        "admin-upload": [srv_req(b"POST", b"/api/v1/projects/" + KEY1 +
                                 b"/firmware?name=AirM2M_780E_LTE_AT&version=AirM2M_780E_V1121_LTE_AT"
                                 b"&enabled=1&all_devices=0", AUTH, img, ctl=3),
                         srv_req(b"GET", b"/api/v1/projects/" + KEY1 + b"/firmware", AUTH)],
        "admin-upload-bad": [srv_req(b"POST", b"/api/v1/projects/" + KEY1 +
                                     b"/firmware?name=x&version=1", AUTH, img[:-5] + b"junk", ctl=4),
                             srv_req(b"POST", b"/api/v1/projects/" + KEY1 + b"/firmware?name=a/b",
                                     AUTH + b"Content-Length: 99999999\n", b"")],
        "admin-keys": [srv_req(b"PUT", b"/api/v1/projects/" + KEY1 + b"/keys", AUTH + J,
                               b'["-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n"]')],
        "admin-keys-upload": [
            srv_req(b"PUT", b"/api/v1/projects/" + KEY1 + b"/keys", AUTH + J,
                    b'["' + SEED_PUB + b'"]'),
            srv_req(b"POST", b"/api/v1/projects/" + KEY1 + b"/firmware?name=AirM2M_780E_LTE_AT"
                    b"&version=V9", AUTH, simg, ctl=4),
            srv_req(b"POST", b"/api/v1/projects/" + KEY1 + b"/firmware?name=AirM2M_780E_LTE_AT"
                    b"&version=AirM2M_780E_V1121_LTE_AT", AUTH, img, ctl=3),
            srv_req(b"GET", dev + b"&imei=864000000000001&version=V1")],
        "admin-create-keys": [srv_req(b"POST", b"/api/v1/projects", AUTH + J,
                                      b'{"name":"signed","keys":["' + SEED_PUB + b'"]}'),
                              srv_req(b"GET", b"/api/v1/projects", AUTH)],
        "smuggle": [srv_req(b"POST", b"/api/v1/projects", AUTH + J +
                            b"Content-Length: 2\nContent-Length: 3\n", b"{}"),
                    srv_req(b"POST", b"/api/v1/projects", AUTH + J + b"Transfer-Encoding: chunked\n"
                            b"Content-Length: 2\n", b"{}"),
                    srv_req(b"GET", b"/healthz", b"Content-Length: abc\n", b"")],
        "paths": [srv_req(b"GET", b"/api/v1/projects/../projects", AUTH),
                  srv_req(b"GET", b"/api/v1/%70rojects/", AUTH),
                  srv_req(b"GET", b"/a%2Fb"), srv_req(b"GET", b"/a\x00b"),
                  srv_req(b"GET", b"/healthz?x=%C3%A9&y&&z=1"),
                  srv_req(b"GET", b"/healthz?bad=%C0%80"),
                  srv_req(b"GET", b"no-slash"),
                  srv_req(b"GET", b"/healthz?token=secret&access_token=x")],
        "proxy": [srv_req(b"GET", b"/healthz", b"X-Forwarded-For: 1.2.3.4, 10.0.0.9\n"
                          b"X-Forwarded-Proto: https\n")],
    }
    setups = {"proxy": 0x02, "admin-auth": 0x00, "health": 0x04}
    for name, reqs in seeds.items():
        put("fuzz_srv_req", name, bytes([setups.get(name, 0)]) + SRV_SEP.join(reqs))
    put("fuzz_srv_req", "admin-off", b"\x01" + srv_req(b"GET", b"/api/v1/projects", AUTH))
    put("fuzz_srv_req", "v6-proxy", b"\x0a" + srv_req(b"GET", b"/healthz",
                                                      b"X-Forwarded-For: 2001:db8::1\n"))
    # Found by fuzz_srv_req: libmicrohttpd 0.9.75 passes any method bytes and http.c wrote
    # the method into the access log as it came (terminal escapes, control bytes).
    put("fuzz_srv_req", "crash-method-log-injection", b"\x00" + srv_req(b"G\x1b[2JT", b"/healthz"))
    put("fuzz_srv_req", "mhd-fails", b"\x00" + srv_req(b"GET", b"/healthz", ctl=0x20) + SRV_SEP +
        srv_req(b"GET", dev + b"&imei=864000000000001&version=V1", ctl=0x40))


# ---- fuzz_srv_parse: [a, b] + text (every parser of req.c and proxy.c runs on it) ------

def srv_parse_seeds():
    texts = [
        (0, 0, b"imei=864000000000008&project_key=" + KEY1 + b"&firmware_name=AirM2M&version=V1"),
        (9, 0, b"a=%C3%A9&b&&c=%e4%b8%ad&d=%F0%9F%98%80&e=%ED%A0%80&f=%C0%AF&g=%zz&h=+"),
        (3, 0, b"/api/v1/projects/" + KEY1 + b"/firmware/12/devices/"),
        (3, 0, b"/api/v1/%2e%2e/x//y/%2F/./.."),
        (0, 1, b"bytes=100-199"), (1, 9, b" Bytes = -500 "), (2, 0, b"bytes=0-"),
        (3, 0, b"bytes=5-3"), (4, 0, b"bytes=1-2,3-4"), (6, 0, b"bytes=18446744073709551616-"),
        (7, 3, b"bytes=-0"),
        (0, 0, b"\"0123456789abcdef0123456789abcdef\""), (0, 0, b"W/\"x\""),
        (0, 0, b"Sun, 06 Nov 1994 08:49:37 GMT"),
        (0, 0, b"Bearer  fuzz-admin-token \t"), (0, 0, b"bearer\t"), (0, 0, b"Basic abc"),
        (0, 0, b"application/json; charset=utf-8"), (0, 0, b" APPLICATION/JSON"),
        (255, 0, "无效的设备\"\\\x01\U0001F600".encode()), (20, 0, "已是最新版本".encode()),
        (10, 0, b"GET /a\"b\\c\x00\x7f\xff..."),
        (40, 0, b"/api/site/firmware_upgrade?token=s3cret&Access_Token=x&%74oken=y&auth&k=v"),
        (5, 0, b"[::1]:8080"), (5, 0, b"0.0.0.0:0"), (0, 0, b"8080"), (5, 0, b"host:65536"),
        (0, 0, b"127.0.0.1"), (0, 0, b"::ffff:10.1.2.3"), (0, 0, b"2001:db8::1/48"),
        (1, 0, b"10.0.0.0/8, 192.168.1.0/24 ,::/0"), (0, 0, b"1.2.3.4, 10.0.0.1,192.168.1.7"),
        (0, 0, b"2001:db8::5, 8.8.8.8, 10.9.9.9"), (0, 0, b", ,"), (0, 0, b"junk, 10.0.0.1"),
        (0, 0, b"864000000000008"), (0, 0, b"9223372036854775807"), (0, 0, KEY1),
        (0, 0, struct.pack("<q", 784111777) + b"\x01"),
        (0, 0, struct.pack("<q", 253402300799) + b"\x00"),
    ]
    for i, (a, b, t) in enumerate(texts):
        put("fuzz_srv_parse", "t%02d" % i, bytes([a, b]) + t)


def main():
    tool = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "fota")
    at_seeds()
    http_seeds()
    url_seeds()
    image_seeds(tool)
    json_seeds()
    nv_seeds()
    boot_seeds()
    srv_seeds(tool)
    srv_parse_seeds()


if __name__ == "__main__":
    main()
