// Creating a unix socket file, which Node offers only through a listening server. bind(2)
// paths are limited to 107 bytes and Node deletes the socket file when the server closes, so:
// bind to a short name reached through the parent directory's descriptor, rename it to the
// real (possibly long, non-UTF-8) name, then close.
import fs from 'node:fs';
import net from 'node:net';

export async function makeSocketFile(target: Buffer): Promise<void> {
  const slash = target.lastIndexOf(0x2f);
  const parent = slash <= 0 ? Buffer.from(slash === 0 ? '/' : '.') : target.subarray(0, slash);
  const dirFd = fs.openSync(parent, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const temporary = `.socket-${process.pid}-${Date.now()}`;
  try {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`/proc/self/fd/${dirFd}/${temporary}`, () => resolve());
    });
    try {
      fs.renameSync(Buffer.concat([parent, Buffer.from(`/${temporary}`)]), target);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  } finally {
    fs.closeSync(dirFd);
  }
}
