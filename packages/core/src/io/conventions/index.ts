/** The naming conventions core ships; each registers itself on import (torchvision first: it wins ties). */
import './torchvision.js';
import './timm.js';
import './cifar.js';
import './hf-transformers.js';
