"""What every capability of the engine shares, at the bottom of its layers: row chunks, colour
(sRGB transfer, luminance), the camera (sensors, default lens), batch sizes, non-finite values, strided
samples, filters (box mean, minimum, guided, push–pull fill), safe paths and the progress of long work.

Nothing here imports another package of the engine.
"""
