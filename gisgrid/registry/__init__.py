"""Buildings and people (楼栋、住户、实有人口): the registry a grid answers for."""
