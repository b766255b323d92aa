"""Sample filtering: reward model, PPO-tuned generator and batch selection through TRL (planned: issue 6).

Nothing here yet; the run's stages do not call this package until it exists for real.
"""
