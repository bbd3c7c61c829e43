"""Sample files for the untrusted-file tests: a code payload and the formats' real layouts."""

import os


class Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def cifar_meta():
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
    names += [b"dog", b"frog", b"horse", b"ship", b"truck"]
    return {b"num_cases_per_batch": 10000, b"label_names": names, b"num_vis": 3072}


def python2_batch(data, labels):
    """A CIFAR-10 batch as Python 2's cPickle wrote it (protocol 2, Python 2 ``str`` opcodes)."""
    n = data.shape[0]
    raw = data.tobytes()
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85U\x01b\x87R"
        + b"(K\x01M"
        + n.to_bytes(2, "little")
        + b"M\x00\x0c\x86cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R"
        + b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T"
        + len(raw).to_bytes(4, "little")
        + raw
        + b"tb"
    )
    label_ops = b"".join(b"K" + bytes([int(v)]) for v in labels)
    return b"\x80\x02}q\x00(U\x04data" + array + b"U\x06labels](" + label_ops + b"eu."
