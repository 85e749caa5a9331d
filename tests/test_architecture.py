"""The package's layers import each other in one direction: the import graph between lanmsff_edge's subpackages and
top-level modules (imports inside functions count too) has no cycle."""
import ast

from conftest import REPO

PACKAGE = "lanmsff_edge"
# source folder → the dotted name it installs as (pyproject's package-dir)
SOURCES = {REPO / "lanmsff_edge": PACKAGE, REPO / "calibration": f"{PACKAGE}.calibration",
           REPO / "firmware_export": f"{PACKAGE}.firmware_export"}


def _modules():
    """``{dotted module name: path}`` of every module of the installed package."""
    modules = {}
    for folder, dotted in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((dotted, *parts))] = path
    return modules


def _node(name):
    """The subpackage or top-level module ``lanmsff_edge.X…`` belongs to (``X``); the package itself is ``""``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imported(module, path):
    """Dotted names ``module`` imports from the package, at any depth of the file."""
    is_package = path.name == "__init__.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[:len(module.split(".")) - node.level + is_package]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.append(source)
            names += [f"{source}.{alias.name}" for alias in node.names]  # `from lanmsff_edge import pretrained`
    return [name for name in names if name == PACKAGE or name.startswith(PACKAGE + ".")]


def import_graph():
    """``{node: {imported nodes}}`` between the package's subpackages and top-level modules."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        edges = graph.setdefault(_node(module), set())
        for name in _imported(module, path):
            while name not in modules and "." in name:  # `from pkg.mod import function` → pkg.mod
                name = name.rsplit(".", 1)[0]
            if name in modules and _node(name) not in ("", _node(module)):
                edges.add(_node(name))
    return graph


def find_cycle(graph):
    """One cycle as ``[a, b, …, a]``, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_the_known_layers():
    graph = import_graph()
    assert {"evaluation", "runtimes", "bench", "calibration", "firmware_export", "cli"} <= set(graph)
    assert "errors" in graph["evaluation"]  # module-level imports count
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_between_subpackages():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_model_layers_stay_below_their_users():
    """artifacts (what a --model names) opens, evaluates and trains nothing; runtimes run models for everyone above."""
    graph = import_graph()
    above = {"bench", "commands", "evaluation", "predict", "pretrained", "quantize", "training"}
    assert not graph["artifacts"] & (above | {"runtimes"}), graph["artifacts"]
    assert not graph["runtimes"] & above, graph["runtimes"]
    assert "bench" not in graph["tflite_info"] and "bench" not in graph["quantize"]


def test_no_click_choice_spells_out_its_values():
    """Every ``click.Choice`` of the CLI reads its values from the table the library checks them against, so a new
    value is added in one place (house review, issue 43): no list or tuple of literals in a Choice."""
    literal = []
    for path in sorted((REPO / "lanmsff_edge" / "commands").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Choice" and node.args
                    and isinstance(node.args[0], (ast.List, ast.Tuple))
                    and all(isinstance(e, ast.Constant) for e in node.args[0].elts)):
                literal.append(f"{path.name}:{node.lineno}")
    assert not literal, literal
