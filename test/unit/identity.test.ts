// The arithmetic of drive identity: byte ranges, windows into them, and when two views of
// one base object are the same drive.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { engine } from '../../src/native.js';
import { IdentityIndex, baseGroup, describeIdentity, fileIdentity, rangesOverlap, sameBase, sameDrive, subRange, type Identity } from '../../src/identity.js';

const MiB = 1 << 20;
const r = (start: number, end: number): { start: number; end: number } => ({ start, end });
const view = (base: string, start: number, end: number): Identity => ({ base, start, end, chain: [base] });

describe('byte ranges', () => {
  it('overlap when they share at least one byte', () => {
    expect(rangesOverlap(r(0, 10), r(9, 20))).toBe(true);
    expect(rangesOverlap(r(9, 20), r(0, 10))).toBe(true);
    expect(rangesOverlap(r(0, 100), r(40, 50))).toBe(true);
    expect(rangesOverlap(r(40, 50), r(0, 100))).toBe(true);
    expect(rangesOverlap(r(5, 6), r(5, 6))).toBe(true);
  });

  it('do not overlap when they only touch, or are apart, or one is empty', () => {
    expect(rangesOverlap(r(0, 10), r(10, 20))).toBe(false);
    expect(rangesOverlap(r(10, 20), r(0, 10))).toBe(false);
    expect(rangesOverlap(r(0, 10), r(11, 20))).toBe(false);
    expect(rangesOverlap(r(5, 5), r(0, 10))).toBe(false);
    expect(rangesOverlap(r(0, 10), r(3, 3))).toBe(false);
  });

  it('run to the end when unbounded', () => {
    expect(rangesOverlap(r(0, Infinity), r(2 ** 52, 2 ** 52 + 1))).toBe(true);
    expect(rangesOverlap(r(4 * MiB, Infinity), r(0, 4 * MiB))).toBe(false);
    expect(rangesOverlap(r(4 * MiB, Infinity), r(0, 4 * MiB + 1))).toBe(true);
  });
});

describe('windows into a lower range (offset loops, partitions)', () => {
  it('shift by the offset and clip to the lower range', () => {
    expect(subRange(r(0, Infinity), MiB, 2 * MiB)).toEqual(r(MiB, 3 * MiB));
    expect(subRange(r(0, Infinity), MiB, Infinity)).toEqual(r(MiB, Infinity));
    // a loop at offset 1 MiB over a partition at 3..5 MiB: 4..5 MiB
    expect(subRange(r(3 * MiB, 5 * MiB), MiB, Infinity)).toEqual(r(4 * MiB, 5 * MiB));
    // a size limit beyond the lower range's end is cut at that end
    expect(subRange(r(3 * MiB, 5 * MiB), MiB, 8 * MiB)).toEqual(r(4 * MiB, 5 * MiB));
    // an offset past the end leaves an empty window, which overlaps nothing
    const past = subRange(r(3 * MiB, 5 * MiB), 4 * MiB, Infinity);
    expect(past.start).toBeGreaterThanOrEqual(past.end);
    expect(rangesOverlap(past, r(0, Infinity))).toBe(false);
  });

  it('keep the other fields of what they narrow', () => {
    const id = view('file 0:27 5', 0, Infinity);
    expect(subRange(id, 512, 1024)).toEqual({ ...id, start: 512, end: 1536 });
  });
});

describe('same drive', () => {
  it('needs one base object and a shared byte', () => {
    expect(sameDrive(view('file 0:27 5', 0, 4 * MiB), view('file 0:27 5', 2 * MiB, Infinity))).toBe(true);
    expect(sameDrive(view('file 0:27 5', 0, 4 * MiB), view('file 0:27 5', 4 * MiB, Infinity))).toBe(false);
    expect(sameDrive(view('file 0:27 5', 0, Infinity), view('file 0:27 6', 0, Infinity))).toBe(false);
    expect(sameDrive(view('file 0:27 5', 0, Infinity), view('block 7:5', 0, Infinity))).toBe(false);
    // a partition against its disk, and two partitions of one disk
    expect(sameDrive(view('block 8:0', 0, Infinity), view('block 8:0', MiB, 3 * MiB))).toBe(true);
    expect(sameDrive(view('block 8:0', MiB, 3 * MiB), view('block 8:0', 4 * MiB, 8 * MiB))).toBe(false);
  });

  it('tells files apart by device and inode, not by name', () => {
    const a = fileIdentity({ major: 0, minor: 27 }, 33, '/tmp/a.img');
    const hardLink = fileIdentity({ major: 0, minor: 27 }, 33, '/tmp/elsewhere/b.img');
    const otherFs = fileIdentity({ major: 8, minor: 1 }, 33, '/tmp/a.img');
    expect(sameDrive(a, hardLink)).toBe(true);
    expect(sameDrive(a, otherFs)).toBe(false);
  });

  it('takes a file of unknown inode as any file of its file system', () => {
    const unknown = fileIdentity({ major: 0, minor: 39 }, undefined, '/mnt/fuse/disk.img');
    expect(unknown.base).toBe('file 0:39 ?');
    expect(sameDrive(unknown, fileIdentity({ major: 0, minor: 39 }, 7))).toBe(true);
    expect(sameDrive(fileIdentity({ major: 0, minor: 39 }, 7), unknown)).toBe(true);
    expect(sameDrive(unknown, fileIdentity({ major: 0, minor: 27 }, 7))).toBe(false);
    expect(sameDrive(unknown, view('block 0:39', 0, Infinity))).toBe(false);
    expect(baseGroup('file 0:39 7')).toBe(baseGroup(unknown.base));
    expect(baseGroup('block 8:0')).toBe('block 8:0');
    expect(sameBase('file 0:39 7', 'file 0:39 8')).toBe(false);
  });

  it('describes the way down and the bytes', () => {
    const id: Identity = { base: 'file 0:27 33', start: MiB, end: 3 * MiB, chain: ['/dev/loop4', '/dev/loop3', '/tmp/a.img (file 0:27 inode 33)'] };
    expect(describeIdentity(id)).toBe(`/dev/loop4 over /dev/loop3 over /tmp/a.img (file 0:27 inode 33), bytes ${MiB} to ${3 * MiB - 1}`);
    expect(describeIdentity({ ...id, start: 0, end: Infinity })).toBe('/dev/loop4 over /dev/loop3 over /tmp/a.img (file 0:27 inode 33)');
  });
});

describe('an index of identities (the station\'s conflicts)', () => {
  it('finds an entry by any identity that shares a byte with it, and only those', () => {
    const index = new IdentityIndex<string>();
    index.add(view('file 0:27 5', 0, 4 * MiB), 'low half');
    index.add(view('file 0:27 5', 4 * MiB, Infinity), 'high half');
    index.add(view('block 8:0', MiB, 3 * MiB), 'sda1');
    expect(index.find(view('file 0:27 5', 3 * MiB, 5 * MiB))).toBe('low half');
    expect(index.find(view('file 0:27 5', 3 * MiB, 5 * MiB), (v) => v !== 'low half')).toBe('high half');
    expect(index.find(view('file 0:27 5', 5 * MiB, 6 * MiB))).toBe('high half');
    expect(index.find(view('file 0:27 6', 0, Infinity))).toBeUndefined();
    expect(index.find(view('file 0:27 ?', 0, Infinity))).toBe('low half');
    expect(index.find(view('block 8:0', 0, Infinity))).toBe('sda1');
    expect(index.find(view('block 8:0', 3 * MiB, Infinity))).toBeUndefined();
  });
});

describe('the engine\'s LOOP_GET_STATUS64', () => {
  it('answers null for what is no loop, and a typed error for what cannot be opened', () => {
    expect(engine.loopStatus('/dev/null')).toBeNull();
    expect(engine.loopStatus(fileURLToPath(import.meta.url))).toBeNull();
    expect(() => engine.loopStatus('/nonexistent/loop')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: '/nonexistent/loop' }));
  });
});
