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


# ---- fuzz_boot: [cfg, cut_at, staged size le16] + journal (1024) [+ R + S] ---------------

JSLOT, JBODY, JHALF_ = 48, 32, 512


def jrec(gen, state, new=900, old=600, n=4, flags=0, result=0):
    b = struct.pack("<IIBBhIII", 0x4C4E4A46, gen, state, flags, result, new, old, n)
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


def main():
    tool = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "fota")
    at_seeds()
    http_seeds()
    url_seeds()
    image_seeds(tool)
    json_seeds()
    nv_seeds()
    boot_seeds()


if __name__ == "__main__":
    main()
