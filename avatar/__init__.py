"""emoavatar: emotional avatars on the ARKit 52 rig.

The one-line paths (lazy, so `import avatar` stays instant):

    import avatar
    w = avatar.pose(emotion="happy", intensity=0.8)      # (52,) ARKit weights
    img = avatar.render(w)                                 # (H, W, 3) uint8
    seq = avatar.ExpressionSequence.load("anim.csv")       # Live Link Face CSV / NPZ / JSON
"""

from __future__ import annotations

from avatar.lazy import lazy_exports

__version__ = "0.1.0"

# name -> "module:attribute"; resolved on first access.
_LAZY = {
    "ARKIT_NAMES": "avatar.rig:ARKIT_NAMES",
    "Rig": "avatar.rig:Rig",
    "ExpressionSequence": "avatar.sequence:ExpressionSequence",
    "BlendshapeHead": "avatar.head:BlendshapeHead",
    "load_head": "avatar.io.headfile:load_head",
    "default_head": "avatar.head:default_head",
    "AvatarInputError": "avatar.errors:AvatarInputError",
    "EMOTIONS": "avatar.emotion:EMOTIONS",
    "ActionUnits": "avatar.facs:ActionUnits",
    "pose": "avatar.app.facade:pose",
    "render": "avatar.app.facade:render",
    "save_image": "avatar.app.facade:save_image",
    "save_video": "avatar.app.facade:save_video",
    "contact_sheet": "avatar.app.facade:contact_sheet",
    "score": "avatar.app.facade:score",
    "animate": "avatar.app.facade:animate",
    "refine": "avatar.app.refine:refine",
    "portrait": "avatar.app.portrait:portrait",
    "Session": "avatar.app.session:Session",
}

__all__ = sorted(_LAZY) + ["__version__"]


__getattr__, __dir__ = lazy_exports("avatar", _LAZY, globals())
