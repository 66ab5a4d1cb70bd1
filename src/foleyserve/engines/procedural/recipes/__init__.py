"""The sound recipes: one `Recipe` per family of sounds, registered in `RECIPES`.

base        Recipe, RecipeKind, the impulsive/continuous drivers
atoms       short physical gestures hits are made of (thump, click, ring, crunch)
footsteps   footsteps on six surfaces
impacts     generic impacts; metal clangs, chains, bells
glass       shattering and clinking
household   doors; typing
explosions  explosions, gunshots, fireworks
splash / water, fire, weather (rain, wind, thunder), machines (engine, clock),
movement (whoosh, rustle), crowd, birds
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from foleyserve.engines.procedural.recipes.base import Recipe, RecipeKind
from foleyserve.engines.procedural.recipes.birds import BIRDS
from foleyserve.engines.procedural.recipes.crowd import CROWD
from foleyserve.engines.procedural.recipes.explosions import EXPLOSION
from foleyserve.engines.procedural.recipes.fire import FIRE
from foleyserve.engines.procedural.recipes.footsteps import FOOTSTEPS
from foleyserve.engines.procedural.recipes.glass import GLASS
from foleyserve.engines.procedural.recipes.household import DOOR, TYPING
from foleyserve.engines.procedural.recipes.impacts import IMPACTS, METAL
from foleyserve.engines.procedural.recipes.machines import CLOCK, ENGINE
from foleyserve.engines.procedural.recipes.movement import RUSTLE, WHOOSH
from foleyserve.engines.procedural.recipes.water import SPLASH, WATER
from foleyserve.engines.procedural.recipes.weather import RAIN, THUNDER, WIND

__all__ = ["RECIPES", "Recipe", "RecipeKind"]

_ALL = (
    FOOTSTEPS,
    IMPACTS,
    GLASS,
    DOOR,
    METAL,
    RAIN,
    WIND,
    THUNDER,
    WATER,
    SPLASH,
    FIRE,
    ENGINE,
    WHOOSH,
    RUSTLE,
    CROWD,
    BIRDS,
    TYPING,
    CLOCK,
    EXPLOSION,
)

RECIPES: Mapping[str, Recipe] = MappingProxyType({recipe.family: recipe for recipe in _ALL})
"""Every family, keyed by name, in priority order (ties in keyword matching go to the first)."""
