"""StepMix (Morin et al. 2025), the maintained Python latent class package: the EM reference of several tests."""


def stepmix(measurement, n_components: int):
    """StepMix's EM from 5 starts, run to tight convergence; ``measurement`` is a model name or a nested
    descriptor. StepMix is a dev dependency (pyproject's dev extra), so the tests that use it never skip."""
    from stepmix.stepmix import StepMix

    return StepMix(
        n_components=n_components,
        measurement=measurement,
        n_init=5,
        abs_tol=1e-10,
        max_iter=10_000,
        random_state=0,
        verbose=0,
        progress_bar=0,
    )
