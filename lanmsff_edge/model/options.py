"""The network's build options that the command line offers (TF-free, so ``--help`` starts no TensorFlow)."""

MASSATT_FORMS = ("code", "equation")  # MassAtt as the authors' code computes it, or as the paper's equation reads
