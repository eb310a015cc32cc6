#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a binary file as a C header: `static const unsigned char NAME[]` and
`NAME_len`, so a compiled BPF object can be embedded in a library."""
import sys


def main() -> int:
    src, dst, name = sys.argv[1:4]
    data = open(src, 'rb').read()
    lines = [f'/* Generated from {src.rsplit("/", 1)[-1]} by bin2c.py: do not edit. */',
             f'static const unsigned char {name}[] __attribute__((aligned(8))) = {{']
    for i in range(0, len(data), 12):
        lines.append('\t' + ', '.join(f'0x{b:02x}' for b in data[i:i + 12]) + ',')
    lines.append('};')
    lines.append(f'static const unsigned long {name}_len = {len(data)}ul;')
    with open(dst, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
