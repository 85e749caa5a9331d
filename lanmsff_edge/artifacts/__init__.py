"""What a ``--model`` reference names and what comes with it: the presets (``presets``: the bundled models, one
dict), files / run folders / preset names → a model file and its run's config (``reference``), an unfinished run's
best weights (``run_folder``, from its ``checkpoint``), and the class names of a model (``labels``).

Nothing here opens a model to run it (that is ``lanmsff_edge.runtimes``), evaluates or trains: every layer that
takes a ``--model`` asks this one, so it imports none of them.
"""
