// The program run as `python3 -I -S -c <HELPER_SCRIPT>`: it exists because Node has no
// binding for the *xattr calls, utimensat with nanoseconds, mkfifo or mknod, and python's os
// module has all of them.
//
// Protocol (all integers little-endian; see protocol.ts for the TypeScript side):
//   request  = u32 bodyLength, u8 op, u32 itemCount, body
//   response = one item per request item, in order, each u32 length then `length` bytes:
//              u8 0 then the op's payload, or u8 1, i32 errno, u16 n, syscall[n], strerror
// Before reading anything the helper sends one item, the hello, so the parent knows the
// interpreter started and understands the script.
// The helper exits when stdin reaches end of file, which happens when the parent closes it or
// dies, so it can never outlive the parent by more than the batch it is working on. It ignores
// SIGINT: a terminal ^C reaches the whole process group, and the parent decides what it means.
export const HELPER_HELLO = 'strata-host 1';

export const HELPER_SCRIPT = String.raw`
import errno, os, signal, struct, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
inp = sys.stdin.buffer
out = sys.stdout.buffer
U32 = struct.Struct('<I')
HEADER = struct.Struct('<IBI')
TIMES = struct.Struct('<qIqI')
NODE = struct.Struct('<III')
FAIL = struct.Struct('<BiH')
EMPTY_LIST = U32.pack(0)
FLUSH_AT = 1 << 20
pending = bytearray()

def flush():
    out.write(pending)
    out.flush()
    del pending[:]

def ok(payload=b''):
    pending.extend(U32.pack(1 + len(payload)))
    pending.append(0)
    pending.extend(payload)
    if len(pending) >= FLUSH_AT:
        flush()

def fail(exc, syscall):
    code = getattr(exc, 'errno', None) or errno.EINVAL
    text = (getattr(exc, 'strerror', None) or str(exc)).encode('utf-8', 'replace')
    name = syscall.encode()
    body = FAIL.pack(1, code, len(name)) + name + text
    pending.extend(U32.pack(len(body)))
    pending.extend(body)

def field(body, at):
    n, = U32.unpack_from(body, at)
    at += 4
    return body[at:at + n], at + n

def list_xattrs(body, count):
    at = 0
    for _ in range(count):
        path, at = field(body, at)
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except Exception as e:
            fail(e, 'llistxattr')
            continue
        if not names:
            ok(EMPTY_LIST)
            continue
        pairs = []
        problem = None
        for name in names:
            key = os.fsencode(name)
            try:
                pairs.append((key, os.getxattr(path, key, follow_symlinks=False)))
            except OSError as e:
                if e.errno != errno.ENODATA:
                    problem = e
                    break
        if problem is not None:
            fail(problem, 'lgetxattr')
            continue
        pairs.sort()
        parts = [U32.pack(len(pairs))]
        for key, value in pairs:
            parts += (U32.pack(len(key)), key, U32.pack(len(value)), value)
        ok(b''.join(parts))

def set_xattrs(body, count):
    at = 0
    for _ in range(count):
        path, at = field(body, at)
        n, = U32.unpack_from(body, at)
        at += 4
        problem = None
        for _ in range(n):
            key, at = field(body, at)
            value, at = field(body, at)
            try:
                os.setxattr(path, key, value, 0, follow_symlinks=False)
            except Exception as e:
                if problem is None:
                    problem = e
        if problem is None:
            ok()
        else:
            fail(problem, 'lsetxattr')

def set_times(body, count):
    at = 0
    for _ in range(count):
        path, at = field(body, at)
        asec, ansec, msec, mnsec = TIMES.unpack_from(body, at)
        at += TIMES.size
        try:
            os.utime(path, ns=(asec * 1000000000 + ansec, msec * 1000000000 + mnsec), follow_symlinks=False)
            ok()
        except Exception as e:
            fail(e, 'utimensat')

def make_fifo(body, count):
    at = 0
    for _ in range(count):
        path, at = field(body, at)
        perm, = U32.unpack_from(body, at)
        at += 4
        syscall = 'mkfifo'
        try:
            os.mkfifo(path, perm & 0o777)
            syscall = 'chmod'
            os.chmod(path, perm)
            ok()
        except Exception as e:
            fail(e, syscall)

def make_node(body, count):
    at = 0
    for _ in range(count):
        path, at = field(body, at)
        mode, major, minor = NODE.unpack_from(body, at)
        at += NODE.size
        syscall = 'mknod'
        try:
            os.mknod(path, mode, os.makedev(major, minor))
            syscall = 'chmod'
            os.chmod(path, mode & 0o7777)
            ok()
        except Exception as e:
            fail(e, syscall)

OPS = {1: list_xattrs, 2: set_xattrs, 3: set_times, 4: make_fifo, 5: make_node}

def main():
    ok(b'${HELPER_HELLO}')
    flush()
    while True:
        head = inp.read(HEADER.size)
        if len(head) < HEADER.size:
            return
        size, op, count = HEADER.unpack(head)
        body = inp.read(size)
        if len(body) < size:
            return
        OPS[op](body, count)
        flush()

try:
    main()
except BrokenPipeError:
    os._exit(0)
`;
