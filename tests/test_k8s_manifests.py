"""The Kubernetes manifests in deploy/k8s (issue 12): valid against the API's own schemas, and
agreeing with each other where a wrong value would break the mesh without an error anywhere:
the seed's DNS name and port, the ports, the labels, the files given to kustomize.

No cluster and no network: kubernetes-validate bundles the schemas. The overlays a user applies
(``kubectl apply -k deploy/k8s``, ``deploy/k8s/encrypted``) are rendered here by a small
stand-in for kustomize that knows only the fields deploy/k8s uses and refuses any other; where
kubectl is installed, its built-in kustomize renders them as well and must give the same
objects. Every check is a function returning problems, so that the tests can also show each one
catching a broken copy (a renamed Service, a moved port, a lost label...).
"""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kaboodle.runtime.seeds import parse_seed

Doc = dict[str, Any]

K8S = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
OVERLAYS = (".", "encrypted")
"""The directories a user applies with ``kubectl apply -k`` (relative to deploy/k8s)."""
VERSIONS = ("1.34.0", "1.37.0")
"""The oldest and the newest Kubernetes whose schemas kubernetes-validate 1.37 bundles."""
CLUSTER_DOMAIN = "cluster.local"
"""The cluster's DNS domain the seed assumes (deploy/k8s/README.md says how to change it)."""
NAME_LABEL = ("app.kubernetes.io/name", "kaboodle")
"""The label every object carries."""
IMAGE_RUNTIME_DIR = "/run/kaboodle"
"""KABOODLE_RUNTIME_DIR as the Dockerfile sets it, for a manifest that does not."""
RUNTIME_SETTINGS = {"KABOODLE_RUNTIME_DIR"}
"""KABOODLE_* variables read outside `kaboodle join`'s options (cli/paths.py)."""
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


# ---- reading deploy/k8s ------------------------------------------------------------------------


def load_docs(path: Path) -> list[Doc]:
    """The YAML documents of ``path``, empty ones left out (as kubectl does)."""
    with path.open(encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if doc is not None]


def kustomization(directory: Path) -> Doc:
    """The one document of ``directory``'s kustomization.yaml."""
    [doc] = load_docs(directory / "kustomization.yaml")
    return doc


def kustomization_dirs(root: Path) -> list[Path]:
    """Every directory under ``root`` (itself included) that holds a kustomization.yaml."""
    return sorted(path.parent for path in root.rglob("kustomization.yaml"))


def generated_inputs(directory: Path, doc: Doc) -> list[Path]:
    """The files a kustomization's secretGenerator reads (``key=path`` or ``path``)."""
    return [
        directory / entry.rpartition("=")[2]
        for generator in doc.get("secretGenerator", [])
        for entry in generator.get("files", [])
    ]


def resource_files(root: Path) -> Iterator[Path]:
    """Every manifest file that a kustomization lists as a resource (not patches)."""
    for directory in kustomization_dirs(root):
        for entry in kustomization(directory).get("resources", []):
            path = directory / entry
            if path.is_file():
                yield path


def tree_problems(root: Path) -> list[str]:
    """What is wrong with the files and kustomizations under ``root``.

    Every YAML file is a kustomization.yaml or is named by one (a resource or a patch), so that
    no manifest lies there unused; every path named exists; every kustomization is reached from
    an overlay a user applies; a generator's input (the mesh key) is git-ignored beside it.
    """
    root = root.resolve()  # the paths below are resolved, to be compared
    found: list[str] = []
    named: set[Path] = set()
    reached: set[Path] = set()

    def reach(directory: Path) -> None:
        if directory in reached:
            return
        reached.add(directory)
        doc = kustomization(directory)
        for field in ("resources", "components"):
            for entry in doc.get(field, []):
                path = (directory / entry).resolve()
                if path.is_dir() and (path / "kustomization.yaml").is_file():
                    reach(path)
                elif path.is_file() and field == "resources":
                    named.add(path)
                else:
                    where = directory.relative_to(root)
                    found.append(f"{where}: {field} names {entry}, which is not there")
        for patch in doc.get("patches", []):
            path = (directory / patch["path"]).resolve()
            if path.is_file():
                named.add(path)
            else:
                found.append(f"{directory.relative_to(root)}: the patch {patch['path']} is missing")
        for path in generated_inputs(directory, doc):
            ignored = directory / ".gitignore"
            if not ignored.is_file() or path.name not in ignored.read_text().split():
                found.append(f"{path.relative_to(root)} (a Secret's content) is not git-ignored")

    for overlay in OVERLAYS:
        if (root / overlay / "kustomization.yaml").is_file():
            reach((root / overlay).resolve())
        else:
            found.append(f"{overlay}: no kustomization.yaml to apply")
    for directory in kustomization_dirs(root):
        if directory.resolve() not in reached:
            found.append(f"{directory.relative_to(root)}: no overlay uses this kustomization")
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        if path.name != "kustomization.yaml" and path.resolve() not in named:
            found.append(f"{path.relative_to(root)} is listed in no kustomization.yaml")
    return found


# ---- a stand-in for kustomize, for the fields deploy/k8s uses ----------------------------------

_KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "components", "images"}
_COMPONENT_FIELDS = {"apiVersion", "kind", "secretGenerator", "patches"}
_MERGE_KEYS = {
    "containers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
"""The strategic merge patch's keys for the lists a patch here may touch (the API's own)."""
_PLACEHOLDER_KEY = base64.b64encode(b"the key the user makes").decode()
"""A generated Secret's content while the user's key file does not exist (as in the repo)."""


def render(directory: Path) -> list[Doc]:
    """The objects ``kubectl kustomize directory`` gives, for the fields used in deploy/k8s.

    Raises:
        AssertionError: the kustomization uses a field this stand-in does not know, which it
            would otherwise ignore without a word.
    """
    doc = kustomization(directory)
    unknown = set(doc) - _KUSTOMIZATION_FIELDS
    assert doc.get("kind") == "Kustomization" and not unknown, (
        f"{directory}: this test's stand-in for kustomize knows no {sorted(unknown)}: teach it"
    )
    objects: list[Doc] = []
    for entry in doc.get("resources", []):
        path = directory / entry
        objects += render(path) if path.is_dir() else copy.deepcopy(load_docs(path))
    for entry in doc.get("components", []):
        apply_component(directory / entry, objects)
    if "namespace" in doc:
        for obj in objects:
            if obj["kind"] == "Namespace":
                obj["metadata"]["name"] = doc["namespace"]  # kustomize renames it too
            else:
                obj["metadata"]["namespace"] = doc["namespace"]
    for rule in doc.get("images", []):
        for container in containers_of(objects):
            if image_name(container["image"]) == rule["name"]:
                name = rule.get("newName", rule["name"])
                container["image"] = f"{name}:{rule['newTag']}" if "newTag" in rule else name
    return objects


def apply_component(directory: Path, objects: list[Doc]) -> None:
    """Add a component's generated Secrets to ``objects`` and apply its patches to them."""
    doc = kustomization(directory)
    unknown = set(doc) - _COMPONENT_FIELDS
    assert doc.get("kind") == "Component" and not unknown, (
        f"{directory}: this test's stand-in for kustomize knows no {sorted(unknown)}: teach it"
    )
    for generator in doc.get("secretGenerator", []):
        options = generator.get("options", {})
        # With a hash suffix, kustomize renames the Secret and every reference to it.
        assert options.get("disableNameSuffixHash") is True, "the stand-in adds no name hash"
        assert set(generator) <= {"name", "files", "options"}
        assert set(options) <= {"disableNameSuffixHash", "labels"}
        data = {}
        for entry in generator["files"]:
            key, _, file = entry.rpartition("=")
            path = directory / file
            content = base64.b64encode(path.read_bytes()).decode() if path.exists() else None
            data[key or PurePosixPath(file).name] = content or _PLACEHOLDER_KEY
        metadata: Doc = {"name": generator["name"]}
        if "labels" in options:
            metadata["labels"] = dict(options["labels"])
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata,
                "type": "Opaque",
                "data": data,
            }
        )
    for patch in doc.get("patches", []):
        assert set(patch) == {"path"}, "the stand-in applies patches to their own kind and name"
        [body] = load_docs(directory / patch["path"])
        assert "$patch" not in yaml.safe_dump(body), "the stand-in knows no patch directives"
        targets = [
            i
            for i, obj in enumerate(objects)
            if (obj["kind"], obj["metadata"]["name"]) == (body["kind"], body["metadata"]["name"])
        ]
        assert len(targets) == 1, f"{patch['path']} must patch one object, not {len(targets)}"
        objects[targets[0]] = merge(objects[targets[0]], body)


def merge(base: Any, patch: Any, field: str = "") -> Any:
    """``patch`` merged into ``base`` as a strategic merge patch does: maps key by key, the
    lists of :data:`_MERGE_KEYS` item by item on their key, anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            merged[key] = merge(base[key], value, key) if key in base else copy.deepcopy(value)
        return merged
    key = _MERGE_KEYS.get(field)
    if key is not None and isinstance(base, list) and isinstance(patch, list):
        # The patch's items come first, in its order (each merged into the item it names),
        # then the items it leaves alone, in theirs: the order kustomize gives, which matters
        # for an env variable that refers to an earlier one.
        originals = {item[key]: item for item in base}
        patched = [merge(originals[i[key]], i) if i[key] in originals else i for i in patch]
        keys = {item[key] for item in patch}
        return copy.deepcopy(patched + [item for item in base if item[key] not in keys])
    return copy.deepcopy(patch)


def image_name(image: str) -> str:
    """An image reference without its tag or digest: what kustomize's ``images:`` matches."""
    name = image.split("@", 1)[0]
    host_and_path, _, last = name.rpartition("/")
    return f"{host_and_path}/{last.split(':')[0]}" if host_and_path else last.split(":")[0]


def containers_of(objects: list[Doc]) -> Iterator[Doc]:
    """Every container of every workload's pod template."""
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            yield from obj["spec"]["template"]["spec"]["containers"]


# ---- the checks ------------------------------------------------------------------------------


def join_settings() -> set[str]:
    """The environment variables `kaboodle join` reads its options from (cli/join.py)."""
    import typer

    from cli.main import app

    group = typer.main.get_command(app)
    # Typer's Context is its Click's (Typer 0.2x carries a Click of its own, not the package).
    join = group.get_command(typer.Context(group), "join")  # type: ignore[attr-defined]
    assert join is not None
    names: set[str] = set()
    for param in join.params:
        envvar = param.envvar
        names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def expand(value: str, earlier: list[Doc], pod: Doc) -> str:
    """``value`` with ``$(VAR)`` replaced as the kubelet does: by a variable defined earlier in
    the container's env, when its value is literal or the pod's namespace; others stay."""

    def one(match: re.Match[str]) -> str:
        for entry in reversed(earlier):
            if entry["name"] != match[1]:
                continue
            if "value" in entry:
                return str(entry["value"])
            if entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == (
                "metadata.namespace"
            ):
                return str(pod["metadata"].get("namespace", "default"))
        return match[0]

    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, value)


def problems(objects: list[Doc]) -> list[str]:
    """Everything in the rendered ``objects`` that would keep the mesh from forming, from being
    reached, from running non-root, or from finding its key; empty when all agree."""
    services = [o for o in objects if o["kind"] == "Service"]
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    namespaces = [o for o in objects if o["kind"] == "Namespace"]
    if (len(services), len(workloads), len(namespaces)) != (1, 1, 1):
        return [
            f"one Service, one workload and one Namespace expected: {len(services)}, "
            f"{len(workloads)} and {len(namespaces)}"
        ]
    [service], [workload], [namespace] = services, workloads, namespaces
    containers = workload["spec"]["template"]["spec"]["containers"]
    node = next((c for c in containers if c["name"] == "kaboodle"), None)
    if node is None:
        return ["the workload has no container named kaboodle"]
    found = [
        *label_problems(objects, service, workload, namespace),
        *port_and_seed_problems(service, workload, node),
        *setting_problems(node),
        *security_problems(workload, node),
        *key_problems(objects, workload, node),
    ]
    for name in ("cpu", "memory"):
        for kind in ("requests", "limits"):
            if name not in node.get("resources", {}).get(kind, {}):
                found.append(f"the node container has no {name} in resources.{kind}")
    return found


def label_problems(objects: list[Doc], service: Doc, workload: Doc, namespace: Doc) -> list[str]:
    """The Service and the workload select the pods; every object carries the name label; all
    live in the one Namespace."""
    found = []
    template_labels = workload["spec"]["template"]["metadata"].get("labels", {})
    selector = service["spec"].get("selector", {})
    match_labels = workload["spec"]["selector"].get("matchLabels", {})
    if not selector or not selector.items() <= template_labels.items():
        found.append(
            f"the Service's selector {selector} does not select the pods {template_labels}"
        )
    if match_labels != selector:
        found.append(f"the workload's selector {match_labels} is not the Service's {selector}")
    for spread in workload["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
        if spread["labelSelector"].get("matchLabels") != match_labels:
            found.append("a topologySpreadConstraint selects other pods than the workload")
    for obj in objects:
        if obj["metadata"].get("labels", {}).get(NAME_LABEL[0]) != NAME_LABEL[1]:
            found.append(f"{obj['kind']} {obj['metadata']['name']} lacks {'='.join(NAME_LABEL)}")
        if obj["kind"] != "Namespace" and (
            obj["metadata"].get("namespace") != namespace["metadata"]["name"]
        ):
            found.append(
                f"{obj['kind']} {obj['metadata']['name']} is in namespace "
                f"{obj['metadata'].get('namespace')}, not {namespace['metadata']['name']}"
            )
    return found


def port_and_seed_problems(service: Doc, workload: Doc, node: Doc) -> list[str]:
    """The seed names the headless Service's DNS name and the members' port; the discovery and
    member ports agree between the command, the env, the container, the Service and probes."""
    found = []
    spec = service["spec"]
    if spec.get("clusterIP") != "None" or spec.get("publishNotReadyAddresses") is not True:
        found.append("the Service must be headless (clusterIP: None) and publishNotReadyAddresses")
    env = node.get("env", [])
    by_name = {entry["name"]: entry for entry in env}
    container_ports = {p["name"]: p for p in node.get("ports", []) if "name" in p}

    args = [str(arg) for arg in node.get("args", [])]
    if args[:1] != ["join"] or "--port" not in args[:-1]:
        return [*found, f"the node's args {args} are not `join --port PORT`"]
    discovery = int(args[args.index("--port") + 1])
    unicast_text = str(by_name.get("KABOODLE_UNICAST_PORT", {}).get("value", ""))
    if not unicast_text.isdigit() or int(unicast_text) == 0:
        return [*found, "KABOODLE_UNICAST_PORT must fix the members' port (a number, not 0)"]
    unicast = int(unicast_text)

    seeds_at = next((i for i, e in enumerate(env) if e["name"] == "KABOODLE_SEEDS"), None)
    if seeds_at is None or "value" not in env[seeds_at]:
        found.append("KABOODLE_SEEDS is not set to a value")
    else:
        texts = re.split(r"[\s,]+", expand(env[seeds_at]["value"], env[:seeds_at], workload))
        want = (
            f"{service['metadata']['name']}.{service['metadata'].get('namespace', 'default')}"
            f".svc.{CLUSTER_DOMAIN}"
        )
        seeds = [parse_seed(text) for text in texts if text]
        if [seed.host for seed in seeds] != [want]:
            found.append(f"KABOODLE_SEEDS names {[s.host for s in seeds]}, not the Service {want}")
        if any(seed.port != unicast for seed in seeds):
            found.append(f"KABOODLE_SEEDS's port is not KABOODLE_UNICAST_PORT={unicast}")

    for name, number in (("discovery", discovery), ("members", unicast)):
        port = container_ports.get(name)
        if port is None or port["containerPort"] != number or port.get("protocol") != "UDP":
            found.append(f"the container does not declare {name} as {number}/UDP")
        served = [p for p in spec.get("ports", []) if p.get("name") == name]
        if [(p["port"], p.get("protocol")) for p in served] != [(number, "UDP")]:
            found.append(f"the Service does not declare {name} as {number}/UDP")
    for port in spec.get("ports", []):
        target = port.get("targetPort", port["port"])
        named_port = container_ports.get(target) if isinstance(target, str) else None
        number = named_port["containerPort"] if named_port else target
        if number != port["port"]:
            found.append(f"the Service's port {port.get('name')} targets {target}, not itself")
    for probe in ("readinessProbe", "livenessProbe"):
        command = node.get(probe, {}).get("exec", {}).get("command")
        if command != ["kaboodle", "fingerprint", "--port", str(discovery)]:
            found.append(f"{probe} is not `kaboodle fingerprint --port {discovery}`: {command}")
    return found


def setting_problems(node: Doc) -> list[str]:
    """Every KABOODLE_* variable is one the node reads (a typo would be ignored), and the
    identity is the pod's name."""
    found = []
    known = join_settings() | RUNTIME_SETTINGS
    for entry in node.get("env", []):
        if entry["name"].startswith("KABOODLE_") and entry["name"] not in known:
            found.append(f"{entry['name']} is no setting of `kaboodle join`")
    identity = {e["name"]: e for e in node.get("env", [])}.get("KABOODLE_IDENTITY", {})
    if identity.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
        found.append("KABOODLE_IDENTITY is not the pod's name (fieldRef metadata.name)")
    return found


def security_problems(workload: Doc, node: Doc) -> list[str]:
    """Non-root with a numeric uid, no privilege escalation, no capabilities, a read-only root
    filesystem, and a control socket directory the node accepts."""
    found = []
    pod = workload["spec"]["template"]["spec"]
    context = {**pod.get("securityContext", {}), **node.get("securityContext", {})}
    if context.get("runAsNonRoot") is not True:
        found.append("runAsNonRoot is not set")
    uid = context.get("runAsUser")
    # The image's USER is a name, and the kubelet refuses runAsNonRoot for a name it cannot
    # check: the pod needs a numeric uid.
    if not isinstance(uid, int) or uid <= 0:
        found.append(f"runAsUser must be a numeric uid other than 0, not {uid}")
    if context.get("allowPrivilegeEscalation") is not False:
        found.append("allowPrivilegeEscalation is not false")
    if context.get("readOnlyRootFilesystem") is not True:
        found.append("readOnlyRootFilesystem is not true")
    capabilities = context.get("capabilities", {})
    if "ALL" not in capabilities.get("drop", []) or capabilities.get("add"):
        found.append("the container does not drop all capabilities")
    if pod.get("automountServiceAccountToken") is not False:
        found.append("the pod mounts a service account token it never uses")
    if pod.get("enableServiceLinks") is not False:
        found.append("service links may set KABOODLE_*_PORT variables (enableServiceLinks)")

    env = {e["name"]: e.get("value") for e in node.get("env", [])}
    runtime = PurePosixPath(env.get("KABOODLE_RUNTIME_DIR") or IMAGE_RUNTIME_DIR)
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = [m for m in node.get("volumeMounts", []) if "emptyDir" in volumes[m["name"]]]
    if any(PurePosixPath(m["mountPath"]) == runtime for m in mounts):
        # An emptyDir is mode 0777 without the sticky bit: the node refuses to serve its
        # control socket there, since anyone could replace it (control/server.py).
        found.append(f"an emptyDir is mounted on {runtime} itself: mount it on a parent")
    elif not any(PurePosixPath(m["mountPath"]) in runtime.parents for m in mounts):
        found.append(f"no writable emptyDir holds the control socket's directory {runtime}")
    return found


def key_problems(objects: list[Doc], workload: Doc, node: Doc) -> list[str]:
    """KABOODLE_KEY_FILE, when set, names a file of a Secret the pod mounts read-only."""
    env = {e["name"]: e for e in node.get("env", [])}
    if "KABOODLE_KEY_FILE" not in env:
        return []
    key_file = PurePosixPath(env["KABOODLE_KEY_FILE"].get("value", ""))
    volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"].get("volumes", [])}
    secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    for mount in node.get("volumeMounts", []):
        secret_volume = volumes[mount["name"]].get("secret")
        directory = PurePosixPath(mount["mountPath"])
        if secret_volume is None or directory not in key_file.parents:
            continue
        secret = secrets.get(secret_volume["secretName"])
        if secret is None:
            return [f"the key's Secret {secret_volume['secretName']} is not among the objects"]
        items = {i["path"]: i["key"] for i in secret_volume.get("items", [])}
        relative = str(key_file.relative_to(directory))
        if items.get(relative, relative if not items else None) not in secret.get("data", {}):
            return [f"the Secret {secret['metadata']['name']} holds no {relative}"]
        return [] if mount.get("readOnly") is True else ["the key's volume is not read-only"]
    return [f"KABOODLE_KEY_FILE={key_file} is in no mounted Secret"]


# ---- the tests --------------------------------------------------------------------------------


def _documents() -> list[tuple[str, Doc]]:
    return [
        (f"{path.relative_to(K8S)}[{i}]", doc)
        for path in sorted(set(resource_files(K8S)))
        for i, doc in enumerate(load_docs(path))
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("where", "doc"), _documents(), ids=[w for w, _ in _documents()])
def test_every_manifest_matches_the_kubernetes_schema(where: str, doc: Doc, version: str) -> None:
    """Strict: an unknown field (a typo) fails as well as a wrong type or a missing field."""
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_matches_the_kubernetes_schema(overlay: str, version: str) -> None:
    """What is applied, patches merged and the key Secret generated, is valid too."""
    for doc in render(K8S / overlay):
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_refuses_an_unknown_field() -> None:
    """The schemas are loaded and strict: a misspelt field is refused, not ignored."""
    [deployment] = load_docs(K8S / "base" / "deployment.yaml")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_every_file_is_given_to_kustomize() -> None:
    """No manifest lies unused, nothing named is missing, the mesh key stays out of git."""
    assert tree_problems(K8S) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_manifests_agree(overlay: str) -> None:
    """Seed, ports, labels, namespace, settings, security context and key agree."""
    assert problems(render(K8S / overlay)) == []


def test_the_overlays_run_the_same_image_in_the_same_namespace() -> None:
    """Both overlays carry the image placeholder and the namespace (kustomize gives them no
    way to share one): a user who rewrites only one runs two different meshes."""
    plain, encrypted = (kustomization(K8S / overlay) for overlay in OVERLAYS)
    assert plain["images"] == encrypted["images"]
    assert plain["namespace"] == encrypted["namespace"]


def test_the_mesh_follows_its_namespace(tmp_path: Path) -> None:
    """An overlay that moves the mesh to another namespace moves the seed with it: the seed
    takes the pod's namespace, not a written one."""
    (tmp_path / "kustomization.yaml").write_text(
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: elsewhere\nresources:\n  - {K8S}\n"
    )
    objects = render(tmp_path)
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {
        "elsewhere"
    }
    assert problems(objects) == []


def test_join_reads_the_settings_the_manifests_use() -> None:
    """The manifests' settings are `kaboodle join`'s (were one renamed, the check above would
    call the manifest wrong rather than pass)."""
    assert {
        "KABOODLE_SEEDS",
        "KABOODLE_UNICAST_PORT",
        "KABOODLE_IDENTITY",
        "KABOODLE_INTERFACE",
        "KABOODLE_KEY_FILE",
    } <= join_settings()


def _node(objects: list[Doc]) -> Doc:
    return next(containers_of(objects))


def _env(objects: list[Doc], name: str) -> Doc:
    return next(e for e in _node(objects)["env"] if e["name"] == name)


def _of_kind(objects: list[Doc], kind: str) -> Doc:
    return next(o for o in objects if o["kind"] == kind)


def _rename_service(objects: list[Doc]) -> None:
    _of_kind(objects, "Service")["metadata"]["name"] = "kaboodle-mesh"


def _move_unicast_port(objects: list[Doc]) -> None:
    _env(objects, "KABOODLE_UNICAST_PORT")["value"] = "7477"


def _write_another_namespace_in_the_seed(objects: list[Doc]) -> None:
    _env(objects, "KABOODLE_SEEDS")["value"] = "kaboodle.default.svc.cluster.local:7476"


def _move_a_service_port(objects: list[Doc]) -> None:
    _of_kind(objects, "Service")["spec"]["ports"][1]["port"] = 7477


def _change_a_pod_label(objects: list[Doc]) -> None:
    labels = _of_kind(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    labels["app.kubernetes.io/component"] = "member"


def _probe_the_wrong_port(objects: list[Doc]) -> None:
    _node(objects)["livenessProbe"]["exec"]["command"][-1] = "7476"


def _misspell_a_setting(objects: list[Doc]) -> None:
    _env(objects, "KABOODLE_INTERFACE")["name"] = "KABOODLE_IFACE"


def _mount_the_emptydir_on_the_socket_directory(objects: list[Doc]) -> None:
    _node(objects)["volumeMounts"][0]["mountPath"] = "/run/kaboodle"


def _leave_the_uid_to_the_image(objects: list[Doc]) -> None:
    del _of_kind(objects, "Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"]


def _misname_the_key_file(objects: list[Doc]) -> None:
    _env(objects, "KABOODLE_KEY_FILE")["value"] = "/etc/kaboodle/key/kaboodle.key"


def _make_the_service_a_cluster_ip(objects: list[Doc]) -> None:
    del _of_kind(objects, "Service")["spec"]["clusterIP"]


BREAKAGES: dict[str, tuple[str, Callable[[list[Doc]], None], str]] = {
    "renamed-Service": (".", _rename_service, "not the Service kaboodle-mesh.kaboodle"),
    "moved-unicast-port": (".", _move_unicast_port, "port is not KABOODLE_UNICAST_PORT"),
    "seed-in-another-namespace": (".", _write_another_namespace_in_the_seed, "not the Service"),
    "moved-Service-port": (".", _move_a_service_port, "Service does not declare members"),
    "changed-pod-label": (".", _change_a_pod_label, "does not select the pods"),
    "probe-on-the-wrong-port": (".", _probe_the_wrong_port, "livenessProbe is not"),
    "misspelt-setting": (".", _misspell_a_setting, "KABOODLE_IFACE is no setting"),
    "emptyDir-on-the-socket-dir": (
        ".",
        _mount_the_emptydir_on_the_socket_directory,
        "mount it on a parent",
    ),
    "uid-left-to-the-image": (".", _leave_the_uid_to_the_image, "runAsUser must be a numeric"),
    "misnamed-key-file": ("encrypted", _misname_the_key_file, "holds no kaboodle.key"),
    "not-headless": (".", _make_the_service_a_cluster_ip, "must be headless"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_manifest_is_caught(breakage: str) -> None:
    """Each check can fail: the same objects, broken in one way, give that problem."""
    overlay, breaks, expected = BREAKAGES[breakage]
    objects = render(K8S / overlay)
    breaks(objects)
    found = problems(objects)
    assert any(expected in problem for problem in found), found


def test_a_file_left_out_of_kustomize_is_caught(tmp_path: Path) -> None:
    """A manifest no kustomization lists (here the Service) is reported."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    base = tree / "base" / "kustomization.yaml"
    base.write_text(base.read_text().replace("  - service.yaml\n", ""))
    assert tree_problems(tree) == ["base/service.yaml is listed in no kustomization.yaml"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is missing")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_renders_what_the_stand_in_renders(overlay: str, tmp_path: Path) -> None:
    """kubectl's own kustomize gives the same objects as this test's stand-in, so the checks
    above are about what `kubectl apply -k` applies. Run on a copy with a key made for it."""
    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    key = base64.b64encode(os.urandom(32)).decode()
    (tree / "components" / "encryption" / "mesh.key").write_text(key + "\n")
    built = subprocess.run(
        ["kubectl", "kustomize", str(tree / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    theirs = [doc for doc in yaml.safe_load_all(built.stdout) if doc is not None]

    def keyed(objects: list[Doc]) -> dict[tuple[str, str], Doc]:
        return {(o["kind"], o["metadata"]["name"]): o for o in objects}

    assert keyed(theirs) == keyed(render(tree / overlay))
    for doc in theirs:
        kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
