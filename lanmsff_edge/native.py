"""Native code that can abort the process (TFLite Micro's C++, TensorFlow's converter) run so that a crash becomes
one line naming what was being done, never a bare "Aborted (core dumped)".

Two layers. ``isolated(what, function, …)`` runs one call in a forked child and hands back its result (or its
exception): a child killed by a signal is a ``UserError`` naming ``what``, the signal and the last native message.
Used where a model the user supplied meets native code that is known to abort on some models (TFLM probes and
invokes). ``supervise(main)`` is the safety net for everything else: the console command runs in a child process,
and a child that dies of SIGSEGV/SIGABRT/SIGBUS/SIGFPE/SIGILL is reported by the parent as one ``Error:`` line
naming the ``phase`` it was in (exit status 1). Signals sent to the parent (Ctrl-C, kill) are passed to the child,
which dies with its parent. Without ``os.fork`` (Windows) both run in-process.
"""
import contextlib
import os
import pickle
import signal
import sys
import tempfile

from lanmsff_edge.errors import UserError

CRASH_SIGNALS = {getattr(signal, name): name for name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGFPE", "SIGILL")
                 if hasattr(signal, name)}
_phase_file = None  # in a supervised child: where ``phase`` records what the process is doing


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_native_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def isolated(what, function, *args, **kwargs):
    """``function(*args, **kwargs)`` in a forked child; its return value (pickled back) or its exception re-raised.

    A child killed by a signal raises ``UserError("<what>: native code crashed (SIGABRT): <its last message>")``.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - Windows
        return function(*args, **kwargs)
    with tempfile.TemporaryFile() as result, tempfile.TemporaryFile() as native_err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # child: run, pickle the outcome, leave without running the parent's cleanup
            code = 0
            try:
                import faulthandler

                faulthandler.disable()  # a crash is reported by the parent, in one line
                os.dup2(native_err.fileno(), 2)
                try:
                    outcome = (True, function(*args, **kwargs))
                except BaseException as error:  # noqa: BLE001 - handed to the parent as is
                    outcome = (False, error)
                try:
                    pickle.dump(outcome, result)
                except Exception:  # an unpicklable result or exception
                    pickle.dump((False, RuntimeError(repr(outcome[1])[:500])), result)
                result.flush()
            except BaseException:  # noqa: BLE001
                code = 3
            finally:
                os._exit(code)
        try:
            _, status = os.waitpid(pid, 0)
        except BaseException:  # Ctrl-C while the child works: it goes too
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            raise
        native_err.seek(0)
        message = _last_native_line(native_err.read().decode("utf-8", "replace"))
        if os.WIFSIGNALED(status):
            raise UserError(f"{what}: native code crashed ({_signal_name(os.WTERMSIG(status))})"
                            f"{': ' + message if message else ''}")
        result.seek(0)
        try:
            ok, value = pickle.load(result)
        except Exception:
            raise RuntimeError(f"{what}: the isolated call ended without a result (exit status "
                               f"{os.WEXITSTATUS(status)}){': ' + message if message else ''}") from None
    if not ok:
        raise value
    return value


@contextlib.contextmanager
def phase(text):
    """Record ``text`` ("converting model.keras to TFLite") as what the process does, for the crash line."""
    global _phase_file
    if _phase_file is None:
        yield
        return
    previous = _read_phase()
    _write_phase(f"{previous}: {text}" if previous else text)  # nested: "quantizing m.keras (ptq): converting …"
    try:
        yield
    finally:
        _write_phase(previous)


def _write_phase(text):
    with contextlib.suppress(OSError):
        data = text.encode("utf-8", "replace")[:1000]
        os.pwrite(_phase_file, data, 0)
        os.ftruncate(_phase_file, len(data))


def _read_phase(descriptor=None):
    descriptor = _phase_file if descriptor is None else descriptor
    try:
        return os.pread(descriptor, 1000, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def supervise(main, program="lanmsff-edge"):
    """Run ``main()`` in a child process and turn a native crash of it into one error line (exit status 1)."""
    global _phase_file
    if not hasattr(os, "fork") or os.environ.get("LANMSFF_NO_SUPERVISOR"):
        return main()
    record = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    # The parent forwards the user's signals to the child. Its handlers go in before the fork: a Ctrl-C that comes
    # while the parent is still being scheduled after fork() would otherwise stop the parent and leave the child.
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    child, pending = {}, []

    def forward(number, frame):
        if "pid" in child:
            _forward(child["pid"], number)
        else:
            pending.append(number)

    # a signal the user's shell ignores (SIGINT and SIGQUIT of a background job) stays ignored, in both processes
    previous = {number: signal.signal(number, forward) for number in forwarded
                if signal.getsignal(number) is not signal.SIG_IGN}
    pid = os.fork()
    if pid == 0:
        for number, handler in previous.items():  # the child handles its signals as an unsupervised run would
            signal.signal(number, handler)
        _phase_file = record.fileno()
        _die_with_parent()
        code = 1
        try:
            main()
            code = 0
        except SystemExit as stop:
            if isinstance(stop.code, int) or stop.code is None:
                code = stop.code or 0
            else:
                print(stop.code, file=sys.stderr)
        except KeyboardInterrupt:
            code = 130
        except BaseException:  # noqa: BLE001 - what an unsupervised run would print
            import traceback

            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    child["pid"] = pid
    for number in pending:
        _forward(pid, number)
    try:
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for old interpreters
                continue
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if os.WIFEXITED(status):
        sys.exit(os.WEXITSTATUS(status))
    number = os.WTERMSIG(status)
    if number in CRASH_SIGNALS:
        doing = _read_phase(record.fileno())
        print(f"Error: {program} crashed in native code ({_signal_name(number)})"
              f"{' while ' + doing if doing else ''}; nothing it was writing was left half-written. Run with "
              "LANMSFF_VERBOSE=1 to see the native library's own messages", file=sys.stderr)
        sys.exit(1)
    sys.exit(128 + number)  # killed from outside (SIGKILL, SIGTERM): the shell's convention


def _forward(pid, number):
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGINT if number == signal.SIGINT else number)


def _die_with_parent():
    """The child gets SIGKILL when the supervising parent dies (Linux; kill -9 of the command kills both), and a
    process group of its own, so a terminal's Ctrl-C reaches it once, through the parent, like any other signal."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:
            os._exit(137)
