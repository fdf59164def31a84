#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Checks the Yocto recipe and the Buildroot package against meson_options.txt, without their toolchains.
"""What it checks:
- meson_options.txt: every feature option (except `tests`, `man` and `fuzz`, build-time only) is
  switchable in both recipes; every other option (a combo or boolean such as `static`) is passed by
  the Yocto recipe and set two ways by the Buildroot package;
- packaging/yocto/*.bb: each line fits BitBake's basic syntax (assignments, flags, inherit,
  shell functions, continuations, balanced quotes); each PACKAGECONFIG[NAME] is
  "-DNAME=enabled,-DNAME=disabled,..." for an existing feature option; every other -DNAME=VALUE
  names an option and one of its values (or a ${VARIABLE} whose default is one);
- packaging/buildroot/sockbridge/sockbridge.mk: every -DNAME=VALUE names an existing option with
  a valid value, each feature is set on both sides of its ifeq, ifeq/else/endif balance, every
  BR2_PACKAGE_SOCKBRIDGE_* it tests is defined in Config.in and every one Config.in defines is used,
  and a dependency added under a sub-option is selected by that sub-option in Config.in;
- Config.in: parsed by kconfiglib (Debian's python3-kconfiglib) with the Buildroot symbols it
  refers to declared as stubs.
What it does not check: that bitbake or Buildroot build it, or that the names of other
recipes/packages (mosquitto, json-for-modern-cpp, ...) exist in those trees.
Usage: check-recipes.py SOURCE_ROOT"""
import pathlib
import re
import sys
import tempfile

root = pathlib.Path(sys.argv[1])
errors = []


def error(where, message):
    errors.append(f'{where}: {message}')


def meson_options():
    """{name: (type, the values it takes or None for any)}."""
    text = (root / 'meson_options.txt').read_text()
    options = {}
    for name, kind, rest in re.findall(r"option\(\s*'([\w-]+)'\s*,\s*type\s*:\s*'(\w+)'(.*?)\)\s*$", text, re.M | re.S):
        choices = re.search(r"choices\s*:\s*\[([^\]]*)\]", rest)
        values = {'feature': ('enabled', 'disabled', 'auto'), 'boolean': ('true', 'false')}.get(kind)
        options[name] = (kind, tuple(re.findall(r"'([^']*)'", choices.group(1))) if choices else values)
    return options


def valid_value(option, value):
    _, values = option
    return values is None or value in values


BITBAKE_LINE = re.compile(
    r'''^(\s*$|\s*\#.*|inherit\s+[\w\s${}.-]+|require\s+\S+|include\s+\S+|'''
    r'''[\w${}:.-]+(\[[\w-]+\])?\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*".*|'''
    r'''(python\s+)?[\w:-]+\s*\(\)\s*\{|\}|\s+.*)$''')


def check_yocto_settings(where, text, options, settings):
    """Every -DNAME=VALUE outside PACKAGECONFIG names an option and a value it takes (or a variable
    whose default does), and every setting option (not a feature) is passed."""
    passed = set()
    for name, value in re.findall(r'^(?!PACKAGECONFIG\[|\s*#).*?-D([\w-]+)=(\S+?)"?$', text, re.M):
        variable = re.fullmatch(r'\$\{(\w+)\}', value)
        if variable:
            default = re.search(rf'^{variable.group(1)}\s*\??\?=\s*"([^"]*)"', text, re.M)
            value = default.group(1) if default else None
        if name not in options:
            error(where, f'-D{name} names no meson option')
        elif value is None or not valid_value(options[name], value):
            error(where, f'-D{name}: {value!r} is not a value of the {options[name][0]} option {name}')
        passed.add(name)
    for name in settings:
        if name not in passed:
            error(where, f'meson option {name!r} is never passed (-D{name}=...)')


def check_yocto(options, features, settings):
    for recipe in sorted((root / 'packaging' / 'yocto').glob('*.bb')):
        where = recipe.relative_to(root)
        text = recipe.read_text()
        lines = text.split('\n')
        continued = False
        for number, line in enumerate(lines, 1):
            if not continued and not BITBAKE_LINE.match(line):
                error(f'{where}:{number}', f'not BitBake syntax: {line!r}')
            if not continued and '=' in line and '"' in line and line.count('"') % 2:
                # An open quote must be continued with a backslash.
                if not line.endswith('\\'):
                    error(f'{where}:{number}', 'unbalanced quotes')
            continued = line.endswith('\\')
        flags = dict(re.findall(r'^PACKAGECONFIG\[([\w-]+)\]\s*=\s*"([^"]*)"', text, re.M))
        for name, value in flags.items():
            parts = value.split(',')
            if name not in options:
                error(where, f'PACKAGECONFIG[{name}] names no meson option')
            elif parts[:2] != [f'-D{name}=enabled', f'-D{name}=disabled']:
                error(where, f'PACKAGECONFIG[{name}] must start "-D{name}=enabled,-D{name}=disabled"')
        for feature in features:
            if feature not in flags:
                error(where, f'no PACKAGECONFIG[{feature}] for meson option {feature!r}')
        check_yocto_settings(where, text, options, settings)
        if not re.search(r'^inherit\b.*\bmeson\b', text, re.M) or not re.search(r'^inherit\b.*\bsystemd\b', text, re.M):
            error(where, 'must inherit meson and systemd')


def check_buildroot(options, features, settings):
    folder = root / 'packaging' / 'buildroot' / 'sockbridge'
    mk_path, config_path = folder / 'sockbridge.mk', folder / 'Config.in'
    mk, config = mk_path.read_text(), config_path.read_text()
    mk_where = mk_path.relative_to(root)
    depth = 0
    for number, line in enumerate(mk.split('\n'), 1):
        if re.match(r'ifn?eq\b', line):
            depth += 1
        elif line.startswith('endif'):
            depth -= 1
            if depth < 0:
                error(f'{mk_where}:{number}', 'endif without ifeq')
    if depth:
        error(mk_where, 'unbalanced ifeq/endif')
    seen = {}
    for name, value in re.findall(r'-D([\w-]+)=(\S+)', mk):
        if name not in options:
            error(mk_where, f'-D{name} names no meson option')
        elif not valid_value(options[name], value):
            error(mk_where, f'-D{name}={value}: not a value of the {options[name][0]} option {name}')
        seen.setdefault(name, set()).add(value)
    for feature in features:
        if seen.get(feature) not in ({'enabled', 'disabled'},):
            error(mk_where, f'meson option {feature!r} is not set both ways (enabled/disabled)')
    for name in settings:
        if len(seen.get(name, ())) < 2:
            error(mk_where, f'meson option {name!r} is not set both ways (two of its values under an ifeq)')
    defined = set(re.findall(r'^config\s+(BR2_PACKAGE_SOCKBRIDGE\w*)', config, re.M))
    used = set(re.findall(r'\$\((BR2_PACKAGE_SOCKBRIDGE\w*)\)', mk))
    for symbol in sorted(used - defined):
        error(mk_where, f'{symbol} is not defined in Config.in')
    for symbol in sorted(defined - used - {'BR2_PACKAGE_SOCKBRIDGE'}):
        error(config_path.relative_to(root), f'{symbol} is never used by sockbridge.mk')
    # A dependency added under a sub-option is what that sub-option selects.
    for symbol, body in re.findall(r'ifeq \(\$\((BR2_PACKAGE_SOCKBRIDGE_\w+)\),y\)\n(.*?)\n(?:else|endif)', mk, re.S):
        block = re.search(rf'^config {symbol}\n(.*?)(?=^\S|\Z)', config, re.M | re.S)
        for dependency in re.findall(r'DEPENDENCIES \+= (.+)', body):
            for package in dependency.split():
                wanted = 'BR2_PACKAGE_' + package.upper().replace('-', '_')
                if not block or f'select {wanted}' not in block.group(1):
                    error(config_path.relative_to(root), f'{symbol} must select {wanted} (sockbridge.mk adds {package})')
    check_kconfig(config_path)


def check_kconfig(config_path):
    try:
        import kconfiglib
    except ImportError:
        sys.path.append('/usr/lib/python3/dist-packages')  # Debian's, when another python3 runs this
        try:
            import kconfiglib
        except ImportError:
            error(config_path.relative_to(root), 'kconfiglib missing (apt-get install python3-kconfiglib): not parsed')
            return
    text = config_path.read_text()
    own = set(re.findall(r'^config\s+(\w+)', text, re.M))
    external = sorted(set(re.findall(r'\bBR2_\w+', text)) - own)
    with tempfile.TemporaryDirectory() as tmp:
        top = pathlib.Path(tmp) / 'Kconfig'
        stubs = ''.join(f'config {s}\n\tbool\n\tdefault y\n' for s in external)
        top.write_text(f'{stubs}source "{config_path}"\n')
        try:
            kconf = kconfiglib.Kconfig(str(top), warn_to_stderr=False)
        except kconfiglib.KconfigError as e:
            error(config_path.relative_to(root), f'kconfiglib: {e}')
            return
        for warning in kconf.warnings:
            error(config_path.relative_to(root), f'kconfiglib: {warning}')
        missing = own - set(kconf.syms)
        if missing:
            error(config_path.relative_to(root), f'kconfiglib did not see {sorted(missing)}')
        print(f'Config.in: kconfiglib parsed {len(own)} symbols ({len(external)} Buildroot symbols stubbed)')


def main():
    options = meson_options()
    build_time = ('tests', 'man', 'fuzz')
    features = sorted(n for n, (t, _) in options.items() if t == 'feature' and n not in build_time)
    settings = sorted(n for n, (t, _) in options.items() if t != 'feature' and n not in build_time)
    check_yocto(options, features, settings)
    check_buildroot(options, features, settings)
    for line in errors:
        print(line)
    print(f'recipes checked against meson options {", ".join(features + settings)}: {len(errors)} problems')
    return 1 if errors else 0


sys.exit(main())
