"""Helpers several test files share (``from helpers import ...``: pytest puts tests/ on sys.path, as for
conftest.py)."""
import numpy as np

from lanmsff_edge.data.testing import write_ferplus

HAPPY_VOTES = [0, 8, 0, 0, 0, 0, 0, 0, 0, 0]  # FERPlus votes of a happiness face


def ferplus_folder(root, train=4, val=4):
    """A tiny FERPlus folder at ``root`` (happiness faces only)."""
    write_ferplus(root, {"train": [(f"fer{i:07d}.png", HAPPY_VOTES) for i in range(train)],
                         "val": [(f"fer{100 + i:07d}.png", HAPPY_VOTES) for i in range(val)]})
    return root


def one_line_error(result, code=1):
    """The one ``Error:`` line of a CLI result that exited with ``code`` and printed no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def reference_outputs(data, inputs):
    """Outputs of the .tflite ``data`` on each of ``inputs`` under LiteRT's reference kernels, stacked."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
    outputs = []
    for x in inputs:
        interpreter.set_tensor(source, x)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target).copy())
    return np.stack(outputs)
