"""ght: the convergent information system of a Groupement Hospitalier de Territoire."""

__version__ = "0.1.0"
