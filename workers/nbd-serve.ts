// The process nbdfuse runs for `image mount` of a compressed image (src/image/partitions/served-image.ts):
// serves IMAGE's bytes, read-only, over NBD on its stdin and stdout, and exits when the client
// goes (the FUSE folder unmounted). Started with systemd socket activation (LISTEN_FDS, as
// nbdcopy, nbdinfo and nbdsh start a server `[ CMD ]`), it serves every connection to fd 3
// instead, until it is stopped. Messages go to stderr, which is the mount's log file.
import { createServer, type Socket } from 'node:net';
import { resolveImage } from '../src/image/open.js';
import { openImageReader } from '../src/image/partitions/image-reader.js';
import { serveNbd, type NbdExport } from '../src/image/nbd.js';

const log = (line: string): void => void process.stderr.write(`clonestation nbd-serve: ${line}\n`);
const writer =
  (out: NodeJS.WritableStream | Socket) =>
  (b: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => out.write(b, (e?: Error | null) => (e ? reject(e) : resolve())));

const path = process.argv[2];
try {
  if (!path) throw new Error('usage: nbd-serve IMAGE');
  const image = await resolveImage(path, { force: true });
  const r = await openImageReader(image);
  const exp: NbdExport = { size: image.size, readAt: (offset, length) => r.far(offset, length) };
  if (process.env.LISTEN_FDS === '1' && process.env.LISTEN_PID === String(process.pid)) {
    createServer((sock) => {
      serveNbd(exp, sock, writer(sock), log).then(
        () => sock.end(),
        (e: unknown) => {
          log(e instanceof Error ? e.message : String(e));
          sock.destroy();
        },
      );
    }).listen({ fd: 3 });
  } else {
    try {
      await serveNbd(exp, process.stdin, writer(process.stdout), log);
    } finally {
      r.close();
    }
    process.exit(0);
  }
} catch (e) {
  log(e instanceof Error ? e.message : String(e));
  process.exit(1);
}
