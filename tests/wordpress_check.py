#!/usr/bin/env python3
"""WordPress' own rules over the Ringside plugin (integrations/wordpress), as a test.

`php -l` on every PHP file, then what WordPress' coding standards check for security and
translation, done here without Composer (PHPCS with WPCS is not in Debian):

- output escaping: everything an `echo`, `print` or `printf` sends is a string literal or goes
  through an escaping function (esc_html, esc_attr, esc_url, esc_textarea, esc_html__,
  esc_attr__, wp_kses_post, absint); a line may opt out only with a phpcs:ignore naming
  EscapeOutput and saying why;
- requests: every admin-post handler checks a nonce (check_admin_referer, directly or through
  a guard that does) and a capability (current_user_can); every POST form prints
  wp_nonce_field; every REST route has a permission_callback that is not __return_true;
- input: $_GET / $_POST / $_REQUEST are read only through wp_unslash;
- every file starts with an ABSPATH (or WP_UNINSTALL_PLUGIN) guard;
- every translated string names the `ringside` text domain.

Prints each finding and exits 1 if there is any; the last line is `wordpress_findings: N`.
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "integrations" / "wordpress"
ESCAPERS = ("esc_html", "esc_attr", "esc_url", "esc_textarea", "esc_html__", "esc_attr__",
            "wp_kses_post", "absint", "esc_js")
I18N = ("__", "_e", "esc_html__", "esc_attr__", "esc_html_e", "esc_attr_e", "_x", "_n")

findings = []


def find(path, line, what):
    findings.append(f"{path.relative_to(ROOT)}:{line}: {what}")


def strip_strings(code):
    """Code with its string literals' contents blanked (quotes kept)."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if c in "'\"":
            j = i + 1
            while j < n and code[j] != c:
                j += 2 if code[j] == "\\" else 1
            out.append(c + " " * max(0, j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_comments(code):
    code = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group(0)), code, flags=re.S)
    return re.sub(r"(?m)//[^\n]*|#(?!\[)[^\n]*", lambda m: " " * len(m.group(0)), code)


def remove_calls(code, names):
    """Removes calls to `names` (with balanced parentheses) from code."""
    pat = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\s*\(")
    while True:
        m = pat.search(code)
        if not m:
            return code
        depth, j = 0, m.end() - 1
        while j < len(code):
            if code[j] == "(":
                depth += 1
            elif code[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        code = code[: m.start()] + " " * (j + 1 - m.start()) + code[j + 1:]


def statements(code, keyword):
    """(offset, text) of each `keyword ... ;` statement."""
    for m in re.finditer(r"\b" + keyword + r"\b", code):
        end = code.find(";", m.end())
        yield m.start(), code[m.end(): end]


def line_of(code, offset):
    return code.count("\n", 0, offset) + 1


def check_file(path):
    raw = path.read_text()
    lint = subprocess.run(["php", "-l", str(path)], capture_output=True, text=True)
    if lint.returncode != 0:
        find(path, 0, "php -l: " + lint.stdout.strip() + lint.stderr.strip())
    lines = raw.splitlines()
    head = "\n".join(lines[:25])
    if "defined( 'ABSPATH' ) || exit;" not in head and "defined( 'WP_UNINSTALL_PLUGIN' ) || exit;" not in head:
        find(path, 1, "no ABSPATH guard at the top")
    code = strip_strings(strip_comments(raw))
    # Output escaping.
    for kw in ("echo", "print", "printf"):
        for off, text in statements(code, kw):
            ln = line_of(code, off)
            src_line = lines[ln - 1]
            if "phpcs:ignore" in src_line and "EscapeOutput" in src_line and "--" in src_line:
                continue
            rest = remove_calls(text, ESCAPERS)
            rest = re.sub(r"'\s*'|\"\s*\"", " ", rest)
            if kw == "printf":
                rest = rest.strip()
            if re.search(r"\$\w|\b\w+\s*\(|::", rest):
                find(path, ln, f"{kw} of something not escaped: {text.strip()[:90]}")
    # Superglobals through wp_unslash.
    for m in re.finditer(r"\$_(GET|POST|REQUEST|COOKIE|SERVER)\b", code):
        before = code[max(0, m.start() - 40): m.start()]
        if "wp_unslash(" not in before.replace(" ", "").replace("\n", "")[-25:]:
            find(path, line_of(code, m.start()), f"${'_' + m.group(1)} read without wp_unslash")
    # admin-post handlers: a nonce and a capability.
    for m in re.finditer(r"add_action\(\s*'admin_post_(?:nopriv_)?[^']*'\s*(?:\.\s*\$\w+\s*)?,\s*array\(\s*__CLASS__\s*,\s*(?:'(\w+)'|\$(\w+))", raw):
        names = [m.group(1)] if m.group(1) else re.findall(r"array\(\s*'([\w', ]+)'\s*\)\s*as\s*\$" + m.group(2), raw)
        handlers = []
        for n in names:
            handlers.extend(x.strip(" '") for x in n.split(","))
        for h in handlers:
            fm = re.search(r"function\s+" + re.escape(h) + r"\s*\([^)]*\)[^{]*\{", raw)
            if not fm:
                find(path, line_of(raw, m.start()), f"admin-post handler {h} not found")
                continue
            body = raw[fm.end(): fm.end() + 600]
            guarded = "check_admin_referer(" in body or "self::guard(" in body
            capable = "current_user_can(" in body or "self::guard(" in body
            if not (guarded and capable):
                find(path, line_of(raw, fm.start()), f"admin-post handler {h} lacks a nonce or capability check")
    if "function guard(" in raw:
        g = raw[raw.index("function guard("):][:500]
        if "check_admin_referer(" not in g or "current_user_can(" not in g:
            find(path, line_of(raw, raw.index("function guard(")), "guard() checks no nonce or capability")
    # POST forms print a nonce field.
    for m in re.finditer(r'<form method="post"', raw):
        nxt = raw[m.end(): m.end() + 300]
        if "wp_nonce_field(" not in nxt:
            find(path, line_of(raw, m.start()), "POST form without wp_nonce_field")
    # REST routes are permission-checked.
    for m in re.finditer(r"register_rest_route\(", raw):
        depth, j = 0, m.end() - 1
        while j < len(raw):
            depth += {"(": 1, ")": -1}.get(raw[j], 0)
            if depth == 0:
                break
            j += 1
        call = raw[m.start(): j]
        methods = call.count("'methods'")
        perms = len(re.findall(r"'permission_callback'\s*=>\s*(?!'__return_true')", call))
        if perms < methods or "__return_true" in call:
            find(path, line_of(raw, m.start()), "REST route without a real permission_callback")
    # Text domain.
    for m in re.finditer(r"\b(" + "|".join(I18N) + r")\(\s*('(?:[^'\\]|\\.)*')\s*(?:,\s*([^)]*))?\)", raw):
        domain = (m.group(3) or "").strip()
        if not domain.endswith("'ringside'"):
            find(path, line_of(raw, m.start()), f"{m.group(1)}() without the ringside text domain")


POT = ROOT / "languages" / "ringside.pot"
KEYWORDS = ["-k", "-k__", "-k_e", "-kesc_html__", "-kesc_attr__", "-kesc_html_e", "-kesc_attr_e",
            "-k_x:1,2c", "-k_n:1,2"]


def make_pot(out):
    """The translation template from the plugin's PHP and JavaScript (GNU xgettext)."""
    php = sorted(str(f.relative_to(ROOT)) for f in ROOT.rglob("*.php"))
    js = sorted(str(f.relative_to(ROOT)) for f in (ROOT / "assets").glob("*.js"))
    pathlib.Path(out).write_text(
        '# Ringside for WordPress: translation template (python3 tests/wordpress_check.py '
        '--write-pot).\nmsgid ""\nmsgstr ""\n"Project-Id-Version: Ringside\\n"\n'
        '"MIME-Version: 1.0\\n"\n"Content-Type: text/plain; charset=UTF-8\\n"\n'
        '"Content-Transfer-Encoding: 8bit\\n"\n"X-Domain: ringside\\n"\n')
    common = ["--from-code=UTF-8", "--add-comments=translators:", "--join-existing",
              "--omit-header", *KEYWORDS, "-o", str(out)]
    subprocess.run(["xgettext", "-L", "PHP", *common, *php], cwd=ROOT, check=True)
    subprocess.run(["xgettext", "-L", "JavaScript", *common, *js], cwd=ROOT, check=True)


def msgids(text):
    """The template's message ids (with their contexts and plurals), the header left out."""
    ids, entry, in_id = set(), [], False
    for line in text.splitlines() + [""]:
        if line.strip() == "":
            key = "".join(entry)
            if key and key != '|""':
                ids.add(key)
            entry, in_id = [], False
        elif line.startswith(("msgctxt ", "msgid ", "msgid_plural ")):
            entry.append("|" + line.split(" ", 1)[1])
            in_id = True
        elif line.startswith("msgstr"):
            in_id = False
        elif line.startswith('"') and in_id:
            entry.append(line)
    return ids


def check_pot():
    """The shipped template lists exactly the strings the code translates."""
    import tempfile
    if subprocess.run(["sh", "-c", "command -v xgettext"], capture_output=True).returncode:
        find(POT, 0, "xgettext (GNU gettext) is not installed: the template cannot be checked")
        return
    with tempfile.TemporaryDirectory() as d:
        fresh = pathlib.Path(d) / "fresh.pot"
        make_pot(fresh)
        want, have = msgids(fresh.read_text()), msgids(POT.read_text())
    for m in sorted(want - have):
        find(POT, 0, f"missing {m[:70]} (python3 tests/wordpress_check.py --write-pot)")
    for m in sorted(have - want):
        find(POT, 0, f"no longer used: {m[:70]}")


def main():
    if sys.argv[1:] == ["--write-pot"]:
        make_pot(POT)
        print(f"wrote {POT}")
        return 0
    files = sorted(ROOT.rglob("*.php"))
    if not (ROOT / "ringside.php").exists():
        find(ROOT, 0, "no main plugin file ringside.php")
    header = (ROOT / "ringside.php").read_text()[:1200]
    for field in ("Plugin Name:", "Requires at least: 6.1", "Requires PHP:      8.1", "Text Domain:       ringside"):
        if field not in header:
            find(ROOT / "ringside.php", 1, f"plugin header lacks {field!r}")
    for f in files:
        check_file(f)
    js = (ROOT / "assets" / "panel.js").read_text()
    if re.search(r"\.innerHTML\s*=|insertAdjacentHTML|document\.write", js):
        find(ROOT / "assets" / "panel.js", 0, "the panel script writes HTML")
    check_pot()
    for line in findings:
        print(line)
    print(f"wordpress_php_files: {len(files)}")
    print(f"wordpress_findings: {len(findings)}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
