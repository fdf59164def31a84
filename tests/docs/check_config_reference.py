#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Every key the config code accepts is documented in config/README.md, the single config reference.
"""Finds the keys in the sources the way the parser learns them (KeySpec tables and the *Keys
arrays handed to reportUnknownKeys) and checks config/README.md documents each one: as the first
cell of a table row (`| `key` | type | default | meaning |`, the type filled in), a section of
its own (## daemon), or, for the members of a map value (keepalive: {idle: ...}), inside a code
span as `key:`. Keys without a `key: value` example are listed, not (yet) failed.
Usage: check_config_reference.py SOURCE_ROOT"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
keyspec_table = re.compile(r'KeySpec\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};', re.S)
keyspec_entry = re.compile(r'^\s*\{"([\w.-]+)"', re.M)
key_array = re.compile(r'string_view\s+(k\w*Keys)\[\]\s*=\s*\{(.*?)\};', re.S)


def accepted_keys():
    """(key, where) for every key some parser accepts."""
    for source in sorted((root / 'src').rglob('*.cpp')):
        text = source.read_text()
        where = source.relative_to(root)
        for name, body in keyspec_table.findall(text):
            for key in keyspec_entry.findall(body):
                yield key, f'{where} {name}'
        for name, body in key_array.findall(text):
            # Only arrays the parser checks keys against (not, say, a format's JSON fields).
            if re.search(rf'reportUnknownKeys\(\s*{name}\b|keyNames\([^)]*\b{name}\b', text):
                for key in re.findall(r'"([\w.-]+)"', body):
                    yield key, f'{where} {name}'


def documented(key, readme):
    k = re.escape(key)
    # A table row whose first cell names the key (alone or among others: `count`, `first_interval`).
    row = re.search(rf'^\|[^|\n]*`{k}`[^|\n]*\|([^|\n]*)\|([^|\n]*)\|', readme, re.M)
    if row:
        return True
    # A map-valued top-level key with a section of its own (## daemon; ## user, group).
    if re.search(rf'^#+ (\S+, )*{k}(,|$)', readme, re.M):
        return True
    # A member of a map value: `{idle: 30s, ...}` in a code span.
    return re.search(rf'`[^`\n]*\b{k}:[^`\n]*`', readme) is not None


def typed(key, readme):
    """False when the key's table row leaves the type column empty (rows naming several keys may share one)."""
    row = re.search(rf'^\|\s*`{re.escape(key)}`\s*\|([^|\n]*)\|', readme, re.M)
    return row is None or bool(row.group(1).strip())


def has_example(key, readme):
    code = re.findall(r'```yaml\n(.*?)```', readme, re.S) + re.findall(r'`([^`\n]+)`', readme)
    return any(re.search(rf'\b{re.escape(key)}:', c) for c in code)


def main():
    readme = (root / 'config' / 'README.md').read_text()
    keys = list(accepted_keys())
    if len(keys) < 20:
        print(f'found only {len(keys)} keys in the sources: the extraction is broken')
        return 1
    missing = [(k, w) for k, w in keys if not documented(k, readme)]
    for key, where in missing:
        print(f'config/README.md: key {key!r} ({where}) is not documented: no table row '
              f'`| `{key}` | type | default | meaning |`, no section, no `{key}: ...` example')
    untyped = sorted({k for k, _ in keys if not typed(k, readme)})
    for key in untyped:
        print(f'config/README.md: the table row of key {key!r} has no type')
    # Reported, not (yet) required: not every key has a `key: value` example.
    without_example = sorted({k for k, _ in keys if not has_example(k, readme)})
    print(f'{len(keys) - len(missing)} of {len(keys)} accepted keys documented in config/README.md; '
          f'{len(without_example)} without a `key: value` example: {", ".join(without_example)}')
    return 1 if missing or untyped else 0


sys.exit(main())
