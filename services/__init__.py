"""ComfyUI-side services the nodes share: the runtime (device, progress, Cancel), model folders and
where model files come from, discovery and loading of depth networks, face packs and identity
adapters (one cache, ``model_cache``), validation generated from a node's schema, read-outs, search
words, socket types, the sample photo. Nodes import from here; the engine never does."""
