"""diffusion_course: the helper package behind the diffusion-models course.

Folders by role (CONTRIBUTING.md has the map and what each may import): ``diffusion`` (the
math), ``samplers``, ``toy``, ``data``, ``models``, ``training``, ``pipelines``, ``evaluation``,
``viz``, ``cli``; plus ``config``, ``checkpoints`` and ``tables``.
"""

__version__ = "0.1.0"
