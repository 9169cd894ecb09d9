"""dask, cloudpickle and distributed, the Dask and cluster engines' dependencies: installed with the ``dask`` extra.

``flows/dask_engine.py`` requires them when imported, so an instance whose pipedag.yaml names
``stagehouse.flows.dask_engine.DaskEngine`` fails with one line ("Dask runs need the dask extra:
pip install 'stagehouse[dask]'") instead of pipedag's ImportError.
"""

from stagehouse.connectors.extras import optional_import

dask = optional_import("dask", feature="Dask runs", extra="dask")
cloudpickle = optional_import("cloudpickle", feature="Dask runs", extra="dask")
distributed = optional_import("distributed", feature="Cluster runs", extra="dask")
