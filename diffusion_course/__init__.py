"""diffusion_course: the helper package behind the diffusion-models course.

Modules: config, data, schedules, forward, param, losses, samplers, oracle, models,
train, checkpoints, metrics, viz, widgets. See CONTRIBUTING.md for the shared API.
"""
__version__ = "0.1.0"
