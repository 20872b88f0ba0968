"""Faces on real photos with real networks: SCRFD-2.5G (InsightFace's detector) and OpenCV Zoo's SFace
recognizer, as an InsightFace pack in ComfyUI's ``models/insightface/models/scrfd_sface/``, through the
pack's nodes loaded in ComfyUI.

What this proves: InsightFace's own loading, detection at several sizes, alignment and embedding calls as
the pack makes them, on real faces; which face is taken and what the node says; that a real recognizer's
cosines separate the same person from others through IdentityScore; keep face's photo choice on real
detections and keypoints. What it does not: SFace's 128-d embedding (zero-padded to the 512-d layout, which
changes no cosine) is not antelopev2's or buffalo_l's ArcFace, so nothing here says how InstantID or FaceID
would render these identities, and the cosine values are SFace's, not ArcFace's.

Each test prints what it measured (``pytest -s`` shows it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from portraitos.testing.comfy_host import run_node
from portraitos.testing.real_models import PACK, PACK_128, truth_boxes

SOLVAY_PEOPLE = 29  # the 1927 Solvay conference photograph shows 29 attendees


def _image(*rgbs: np.ndarray) -> torch.Tensor:
    """uint8 ``[H,W,3]`` photos (one size) as a ComfyUI IMAGE ``[B,H,W,3]`` in 0..1."""
    return torch.stack([torch.from_numpy(np.ascontiguousarray(p)).float() / 255 for p in rgbs])


def _square(rgb: np.ndarray, side: int = 768) -> np.ndarray:
    """The photo scaled to fit ``side`` × ``side`` and centred on mid grey (so photos batch together)."""
    import cv2

    h, w = rgb.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    out = np.full((side, side, 3), 128, np.uint8)
    y0, x0 = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return out


def _iou(a, b) -> float:
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def pack(real_comfy):
    from portraitos.services.face_packs import face_pack

    return face_pack(PACK, "CPU")


def test_the_pack_is_offered_and_finds_every_face(real_comfy, real_root, pack, photos):
    """IdentityLoader lists the real pack; it finds 1, 1 and 29 faces, and the boxes on Newton and Gauss are
    the ones the scrfd package's own tests record."""
    from portraitos.engine.faces.analysis import find_faces_insightface, largest_first

    options = real_comfy.NODE_CLASS_MAPPINGS["IdentityLoader"].INPUT_TYPES()["required"]["face_model"][1]["options"]
    assert PACK in options and PACK_128 in options
    truth = truth_boxes(real_root)
    counts = {}
    for name, rgb in photos.items():
        faces = largest_first(find_faces_insightface(pack, rgb))
        counts[name] = len(faces)
        if f"{name}.png" in truth:
            assert _iou(faces[0].bbox[:4], truth[f"{name}.png"]) > 0.9, (name, faces[0].bbox, truth)
        assert all(f.kps.shape == (5, 2) and f.embedding.shape == (512,) for f in faces)
    print(f"\nfaces found: {counts}")
    assert counts == {"newton": 1, "gauss": 1, "solvay": SOLVAY_PEOPLE}


def test_identity_loader_creates_and_updates_on_real_photos(real_comfy, photos):
    """create from Newton's portrait, then update with the mirrored photo: two faces stored, the mean
    embedding close to both; the UI says what was stored."""
    cls = real_comfy.NODE_CLASS_MAPPINGS["IdentityLoader"]
    out = run_node(cls, mode="create", name="newton", face_model=PACK, image=_image(photos["newton"]))
    ident, crop, preview = out.args
    assert ident.count == 1 and ident.meta["model_pack"] == PACK
    assert crop.shape == (1, 224, 224, 3) and preview.shape == (1, *photos["newton"].shape)
    created = out.ui["text"][0]
    mirrored = np.ascontiguousarray(photos["newton"][:, ::-1])
    out = run_node(cls, mode="update", name="newton", face_model=PACK, image=_image(mirrored))
    updated = out.args[0]
    assert updated.count == 2
    normed = updated.tensors["embeddings_normed"]
    cos_pair = float(normed[0] @ normed[1])
    cos_mean = [float(updated.embedding @ normed[i]) for i in range(2)]
    print(f"\ncreate: {created!r}\nupdate: {out.ui['text'][0]!r}")
    print(f"Newton vs mirrored Newton {cos_pair:.3f}; stored mean vs each {cos_mean[0]:.3f}, {cos_mean[1]:.3f}")
    assert cos_pair > 0.9 and min(cos_mean) > cos_pair
    assert "newton" in created and "newton" in out.ui["text"][0]
    loaded = run_node(cls, mode="load", stored_identity="newton").args[0]
    assert torch.equal(loaded.embedding, updated.embedding)


def test_group_photo_takes_the_largest_face_and_says_which(real_comfy, pack, photos):
    """The Solvay photo (29 faces): the largest face is taken and the warning names it by its box; face_index
    picks another person (a different embedding)."""
    from portraitos.engine.faces.analysis import find_faces_insightface

    faces = find_faces_insightface(pack, photos["solvay"])
    areas = [float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])) for f in faces]
    largest = faces[int(np.argmax(areas))].bbox
    cls = real_comfy.NODE_CLASS_MAPPINGS["IdentityLoader"]
    out = run_node(cls, mode="create", name="solvay_0", face_model=PACK, image=_image(photos["solvay"]))
    ident = out.args[0]
    x0, y0, x1, y1 = (int(v) for v in largest[:4])
    expected = f"{SOLVAY_PEOPLE} faces found; took #0 (largest first) at x {x0}–{x1}, y {y0}–{y1}"
    warnings = out.ui["text"][0]
    print(f"\nSolvay: {expected} (of {len(faces)} faces, {min(areas):.0f}–{max(areas):.0f} px²)")
    assert expected in warnings and "set face_index to choose another" in warnings
    assert np.allclose(ident.tensors["bbox"][0].numpy(), largest[:4], atol=0.5)
    other = run_node(cls, mode="create", name="solvay_5", face_model=PACK, face_index=5, image=_image(photos["solvay"]))
    cos = float(other.args[0].embedding @ ident.embedding)
    print(f"face_index 5 against the largest face: cosine {cos:.3f}")
    assert cos < 0.5
    order = np.argsort(areas)[::-1]
    assert np.allclose(other.args[0].tensors["bbox"][0].numpy(), faces[int(order[5])].bbox[:4], atol=0.5)


def test_a_close_up_that_fills_the_frame_is_found_at_a_smaller_detection_size(real_comfy, pack, photos):
    """Gauss's face cropped to fill the frame (1024 px high): SCRFD misses it at 640 px and finds it at a
    smaller size; IdentityLoader creates the identity from it, the same person as the full portrait."""
    import cv2

    from portraitos.engine.faces.analysis import find_faces_insightface

    x0, y0, x1, y1 = 376, 203, 654, 568  # upstream's recorded box of Gauss's face
    crop = photos["gauss"][y0:y1, x0:x1]
    crop = cv2.resize(crop, (round(crop.shape[1] * 1024 / crop.shape[0]), 1024), interpolation=cv2.INTER_CUBIC)
    assert find_faces_insightface(pack, crop, (640,)) == []
    faces = find_faces_insightface(pack, crop)
    assert len(faces) == 1 and faces[0]["det_size"] < 640
    cls = real_comfy.NODE_CLASS_MAPPINGS["IdentityLoader"]
    close = run_node(cls, mode="create", name="gauss_close", face_model=PACK, image=_image(crop)).args[0]
    full = run_node(cls, mode="create", name="gauss", face_model=PACK, image=_image(photos["gauss"])).args[0]
    cos = float(close.embedding @ full.embedding)
    print(f"\nclose-up {crop.shape[1]}×{crop.shape[0]}: found at {faces[0]['det_size']} px; vs full portrait {cos:.3f}")
    assert cos > 0.6


def test_identity_score_separates_the_same_person_from_others(real_comfy, pack, photos):
    """IdentityScore against Newton's identity: the mirrored, blurred, relit (LightingTint, neon night) and
    cropped photos of Newton all score above every other person (Gauss, Solvay attendees)."""
    import cv2

    from portraitos.engine.faces.analysis import find_faces_insightface, largest_first

    nodes = real_comfy.NODE_CLASS_MAPPINGS
    newton = photos["newton"]
    ident = run_node(nodes["IdentityLoader"], mode="create", name="newton_ref", face_model=PACK, image=_image(newton))
    ident = ident.args[0]
    relit = run_node(nodes["LightingTint"], image=_image(newton), preset="neon night").args[0]
    variants = {
        "mirrored": newton[:, ::-1],
        "blurred (Gaussian σ 2 px)": cv2.GaussianBlur(newton, (0, 0), 2.0),
        "relit (LightingTint neon night)": (relit[0].numpy() * 255).round().astype(np.uint8),
        "cropped": newton[40:300, 250:520],
    }
    others = {"Gauss": photos["gauss"]}
    solvay = photos["solvay"]
    for i, f in enumerate(largest_first(find_faces_insightface(pack, solvay))[:6]):
        cx, cy = (f.bbox[0] + f.bbox[2]) / 2, (f.bbox[1] + f.bbox[3]) / 2
        r = 1.6 * (f.bbox[3] - f.bbox[1])
        ya, yb, xa, xb = int(max(cy - r, 0)), int(cy + r), int(max(cx - r, 0)), int(cx + r)
        others[f"Solvay attendee {i + 1}"] = solvay[ya:yb, xa:xb]
    labels = list(variants) + list(others)
    batch = _image(*[_square(np.ascontiguousarray(p)) for p in list(variants.values()) + list(others.values())])
    sorted_images, scores, failed, report = run_node(nodes["IdentityScore"], images=batch, identity=ident).args
    # the node returns the batch best first: recover each image's score by matching the sorted images
    by_label = {}
    for j, s in enumerate(scores):
        (i,) = [i for i in range(batch.shape[0]) if torch.equal(sorted_images[j], batch[i])]
        by_label[labels[i]] = s
    print("\nIdentityScore against Newton (SFace cosine):")
    for k in labels:
        print(f"  {k:<34} {by_label[k]:.3f}")
    same = [by_label[k] for k in variants]
    diff = [by_label[k] for k in others]
    assert all(np.isfinite(same)) and all(np.isfinite(diff))
    assert min(same) > max(diff) + 0.3, (same, diff)
    assert failed[: len(variants)].sum() == 0 and failed[len(variants) :].amin() == 1  # threshold 0.4
    assert report.count("(failed)") == len(others)


def test_keep_face_chooses_the_sharp_frontal_photo_on_real_detections(real_comfy, photos):
    """keep face with three photos of Newton (darkened, blurred, as taken) and an identity made from another
    photo, so each face comes from the real detector: the photo as taken is kept and the line says so. The
    real keypoints' yaw changes sign in the mirror image."""
    import cv2

    from portraitos.engine.faces.analysis import find_faces_insightface, largest_first
    from portraitos.engine.faces.records import pose_from_kps
    from portraitos.nodes.portrait_generate import _keep_face_photo

    newton = photos["newton"]
    cls = real_comfy.NODE_CLASS_MAPPINGS["IdentityLoader"]
    mirrored = np.ascontiguousarray(newton[:, ::-1])
    ident = run_node(cls, mode="create", name="newton_mirror", face_model=PACK, image=_image(mirrored)).args[0]
    batch = _image((newton * 0.35).astype(np.uint8), cv2.GaussianBlur(newton, (0, 0), 3.0), newton)
    chosen, box, line = _keep_face_photo(batch, ident)
    print(f"\n{line}")
    assert np.array_equal(chosen, newton) and line.startswith("keep face: photo 3 of 3 (")
    from portraitos.services.face_packs import face_pack

    pack = face_pack(PACK, "CPU")
    face = largest_first(find_faces_insightface(pack, newton))[0]
    assert np.allclose(box, face.bbox[:4], atol=0.5)
    yaw = float(pose_from_kps(torch.as_tensor(face.kps))[0])
    yaw_m = float(pose_from_kps(torch.as_tensor(largest_first(find_faces_insightface(pack, mirrored))[0].kps))[0])
    print(f"Newton's yaw from SCRFD's keypoints {yaw:+.1f}°, mirrored {yaw_m:+.1f}°")
    assert abs(yaw) > 3 and yaw * yaw_m < 0 and abs(yaw + yaw_m) < 0.35 * abs(yaw)


def test_sface_as_shipped_is_refused_with_what_is_needed(real_comfy, photos):
    """SFace's own 128-d output (the pack a user gets by copying the OpenCV Zoo file) is refused by
    IdentityLoader with the reason, not stored."""
    cls = real_comfy.NODE_CLASS_MAPPINGS["IdentityLoader"]
    with pytest.raises(Exception, match="128-d embeddings; an ArcFace model with 512-d output is needed"):
        run_node(cls, mode="create", name="sface128", face_model=PACK_128, image=_image(photos["newton"]))
