"""What the numbers were measured on: CPU, cores, load, library versions, date (part of every report)."""
import datetime
import importlib.metadata
import os
import platform


def cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def host_info(extra=None):
    """A JSON-ready description of this machine and the runtimes the bench used."""
    info = {
        "cpu": cpu_name(),
        "machine": platform.machine(),
        "logical_cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tensorflow": package_version("tensorflow"),
        "tf_keras": package_version("tf-keras"),
        "ai_edge_litert": package_version("ai-edge-litert"),
        "tflite_runtime": package_version("tflite-runtime"),
        "tflite_micro": package_version("tflite-micro"),
        "lanmsff_edge": package_version("lanmsff-edge"),
        "load_average": load_average(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    info.update(extra or {})
    return info
