"""The procedural engine: a CPU reference `FoleyEngine` (motion analysis + sound recipes)."""
