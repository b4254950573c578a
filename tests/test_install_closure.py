"""Tests of .ci/install-closure: its parsing and closure rules on made-up input, and the check
itself on the configured build tree and on a traced GUI start.

Usage: test_install_closure.py TOOL [--build DIR] [--nmstudio EXE] [unittest arguments, e.g. -k unit]
End-to-end tests are skipped when their inputs are not given or the machine lacks the tools.
"""

import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = {"tool": None, "build": None, "nmstudio": None}


def load_tool():
    loader = importlib.machinery.SourceFileLoader("install_closure", ARGS["tool"])
    spec = importlib.util.spec_from_loader("install_closure", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def run_tool(*args):
    return subprocess.run([ARGS["tool"], *args], capture_output=True, text=True)


def setup_without(package, folder):
    """A copy of .ci/setup whose package list lacks `package`."""
    setup = os.path.join(os.path.dirname(ARGS["tool"]), "setup")
    lines = []
    with open(setup, encoding="utf-8") as f:
        original = f.readlines()
    for line in original:
        if not line.lstrip().startswith("#"):
            line = " ".join(w for w in line.rstrip("\n").split(" ") if w != package) + "\n"
        lines.append(line)
    path = os.path.join(folder, "setup")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines)
    return path


class UnitTests(unittest.TestCase):
    """The rules, on made-up input (no apt, no build needed)."""

    @classmethod
    def setUpClass(cls):
        cls.t = load_tool()

    def test_setup_list_ignores_comments_and_rejects_bad_names(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "setup")
            with open(p, "w") as f:
                f.write("# packages=(not this)\nset -e\npackages=(\n  cmake ninja-build # the generator\n"
                        "  qt6-base-dev\n)\nfor p in \"${packages[@]}\"; do :; done\n")
            self.assertEqual(self.t.setup_packages(p), ["cmake", "ninja-build", "qt6-base-dev"])
            with open(p, "w") as f:
                f.write("packages=(cmake Bad_Name)\n")
            with self.assertRaisesRegex(self.t.CheckError, "not a Debian package name: Bad_Name"):
                self.t.setup_packages(p)
            with open(p, "w") as f:
                f.write("apt-get install cmake\n")
            with self.assertRaisesRegex(self.t.CheckError, "no packages=\\( ... \\) list"):
                self.t.setup_packages(p)

    def test_parse_depends_reads_groups_virtuals_and_providers(self):
        text = ("libhdf5-dev\n  Depends: zlib1g-dev\n |Depends: libcurl4-openssl-dev\n"
                "  Depends: <libcurl-dev>\n    libcurl4-gnutls-dev\n    libcurl4-openssl-dev\n"
                "  PreDepends: libc6:amd64\n<debconf-2.0>\n")
        deps = self.t.parse_depends(text)
        self.assertEqual(deps["libhdf5-dev"], [
            [["zlib1g-dev", [], False]],
            [["libcurl4-openssl-dev", [], False],
             ["libcurl-dev", ["libcurl4-gnutls-dev", "libcurl4-openssl-dev"], True]],
            [["libc6", [], False]],
        ])
        self.assertEqual(deps["debconf-2.0"], [])

    def closure(self, graph, roots):
        original = self.t.apt_depends
        self.t.apt_depends = lambda names, recurse=False: {n: graph.get(n, []) for n in names}
        try:
            return self.t.depends_closure(roots)
        finally:
            self.t.apt_depends = original

    def test_closure_follows_hard_dependencies_and_apt_choice_of_alternatives(self):
        graph = {
            "app": [[["lib", [], False]], [["b-impl", [], False], ["virt", ["c-impl"], True]]],
            "lib": [[["base", [], False]]],
            "tool": [[["virt2", ["p1", "p2"], True]]],
        }
        # The first alternative is apt's choice when none is installed already.
        self.assertEqual(self.closure(graph, ["app"]), {"app", "lib", "base", "b-impl"})
        # An alternative another package pulls in satisfies the group.
        graph["lib"].append([["c-impl", [], False]])
        self.assertEqual(self.closure(graph, ["app"]), {"app", "lib", "base", "c-impl"})
        # A virtual package: its first provider.
        self.assertEqual(self.closure(graph, ["tool"]), {"tool", "p1"})

    def test_usr_merge_and_links_are_looked_up(self):
        c = self.t.candidates("/usr/lib/x86_64-linux-gnu/libz.so.1")
        self.assertIn("/lib/x86_64-linux-gnu/libz.so.1", c)
        self.assertIn("/usr/lib/x86_64-linux-gnu/libz.so.1", self.t.candidates("/lib/x86_64-linux-gnu/libz.so.1"))
        owners = {"/lib/x86_64-linux-gnu/libz.so.1": {"zlib1g"}}
        by_package, unowned = self.t.owning_packages({"/usr/lib/x86_64-linux-gnu/libz.so.1", "/usr/nope"}, owners)
        self.assertEqual(by_package, {"zlib1g": "/usr/lib/x86_64-linux-gnu/libz.so.1"})
        self.assertEqual(unowned, ["/usr/nope"])

    def test_trace_keeps_successful_opens_and_execs_of_system_files(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "trace")
            sh = shutil.which("sh")
            with open(log, "w") as f:
                f.write(f'101 execve("{sh}", ["sh"], 0x7ffd /* 20 vars */) = 0\n'
                        '101 openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3\n'
                        '101 openat(AT_FDCWD, "/usr/lib/x86_64-linux-gnu/nothere.so", O_RDONLY) = -1 ENOENT\n'
                        f'101 openat(AT_FDCWD, "{d}/mine", O_RDONLY) = 4\n')
            used = self.t.files_of_trace(log)
            self.assertIn(sh, used)
            self.assertIn("/etc/ld.so.cache", used)
            self.assertEqual(len(used), 2)
            with open(log, "w") as f:
                f.write("nothing here\n")
            with self.assertRaisesRegex(self.t.CheckError, "names no system file"):
                self.t.files_of_trace(log)


def have(*tools):
    return all(shutil.which(t) for t in tools)


class BuildTests(unittest.TestCase):
    """The check on the configured build tree."""

    def setUp(self):
        if not ARGS["build"]:
            self.skipTest("no --build DIR")
        if not have("apt-cache", "dpkg-query", "ninja"):
            self.skipTest("needs apt-cache, dpkg-query and ninja")

    def test_setup_covers_the_build(self):
        r = run_tool(ARGS["build"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("covers every package used", r.stdout)

    def test_a_setup_without_qt_opengl_fails_and_names_it(self):
        with open(os.path.join(ARGS["build"], "CMakeCache.txt")) as f:
            gui = "Qt6Charts_DIR" in f.read()
        if not gui:
            self.skipTest("the build has no GUI")
        with tempfile.TemporaryDirectory() as d:
            r = run_tool("--setup", setup_without("libqt6opengl6-dev", d), ARGS["build"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("libqt6opengl6-dev", r.stdout)
        self.assertIn("Qt6OpenGLConfig.cmake", r.stdout)

    def test_a_setup_without_hdf5_fails_and_names_it(self):
        with tempfile.TemporaryDirectory() as d:
            r = run_tool("--setup", setup_without("libhdf5-dev", d), ARGS["build"])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("libhdf5-dev", r.stdout)

    def test_an_unknown_package_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            path = setup_without("cmake", d)
            with open(path) as f:
                text = f.read().replace("packages=(", "packages=(\n  no-such-package-xyz")
            with open(path, "w") as f:
                f.write(text)
            r = run_tool("--setup", path, ARGS["build"])
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("no-such-package-xyz", r.stderr)


class GuiRuntimeTests(unittest.TestCase):
    """nmstudio started in a window under xvfb-run as a user would, traced: every file it and
    the X server opened (platform plugin, fonts, SVG icon engine) comes from a package of the list."""

    def test_gui_start_uses_only_listed_packages_and_renders_text(self):
        if not ARGS["nmstudio"]:
            self.skipTest("no --nmstudio EXE")
        if not have("xvfb-run", "strace"):
            self.skipTest("needs xvfb-run and strace")
        with tempfile.TemporaryDirectory() as d:
            log, shots = os.path.join(d, "trace"), os.path.join(d, "shots")
            env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
            env.update(HOME=d, XDG_CONFIG_HOME=d, XDG_CACHE_HOME=os.path.join(d, "cache"), OMP_NUM_THREADS="1")
            r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,open,execve", "-o", log,
                                "xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", ARGS["nmstudio"],
                                "--screenshots", shots, "--steps", "12"],
                               capture_output=True, text=True, env=env, timeout=600)
            if r.returncode != 0 and "ptrace" in r.stderr:
                self.skipTest("ptrace is not allowed here: " + r.stderr.strip()[:200])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertNotIn("Could not find the Qt platform plugin", r.stderr)
            self.assertNotIn("Cannot find font directory", r.stderr)
            with open(log, encoding="utf-8", errors="replace") as f:
                trace = f.read()
            for what, pattern in (("the xcb platform plugin", r"platforms/libqxcb\.so"),
                                  ("a font file", r"/usr/share/fonts/[^\"]+\.(ttf|otf|pfb)"),
                                  ("the SVG image plugin", r"imageformats/libqsvg\.so")):
                if not re.search(r'(open|openat)\((AT_FDCWD, )?"[^"]*' + pattern + r'", [^)]*\) = \d+', trace):
                    self.fail(f"nmstudio never opened {what} (pattern {pattern})")
            pngs = [f for f in os.listdir(shots) if f.endswith(".png")]
            self.assertTrue(pngs, "no screenshot written")
            c = run_tool("--trace", log)
        self.assertEqual(c.returncode, 0, c.stdout + c.stderr)


if __name__ == "__main__":
    argv = [sys.argv[0]]
    it = iter(sys.argv[1:])
    for a in it:
        if a in ("--build", "--nmstudio"):
            ARGS[a[2:]] = next(it)
        elif ARGS["tool"] is None and not a.startswith("-"):
            ARGS["tool"] = os.path.abspath(a)
        else:
            argv.append(a)
    if ARGS["tool"] is None:
        sys.exit("usage: test_install_closure.py TOOL [--build DIR] [--nmstudio EXE] [unittest args]")
    unittest.main(argv=argv, verbosity=2)
