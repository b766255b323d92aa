"""Distillation: losses, encoded batches, student builders and the HF-Trainer-based distillation trainer."""
