// A compile-and-run stub of the GQI extension types the "Oceane Tables" data sources use, as DataMiner publishes
// them in Skyline.DataMiner.Analytics.GenericInterface (SLAnalyticsTypes.dll): SkylineCommunications/dataminer-docs,
// user-guide/Advanced_Modules/Dashboards_and_Low_Code_Apps/GQI/Extensions/API_Reference/ (IGQIDataSource.md,
// GQIColumn.md, GQIRow.md, GQICell.md, GQIPage.md) and Ad_hoc_data/Ad_hoc_Tutorials.md. Only what the scripts use.
namespace Skyline.DataMiner.Analytics.GenericInterface
{
	using System;

	/// <summary>Marks a class as a GQI data source.</summary>
	public interface IGQIDataSource
	{
		/// <summary>The columns of the data source.</summary>
		GQIColumn[] GetColumns();

		/// <summary>The next page of rows.</summary>
		GQIPage GetNextPage(GetNextPageInputArgs args);
	}

	/// <summary>The name shown in the Dashboards app.</summary>
	[AttributeUsage(AttributeTargets.Class)]
	public sealed class GQIMetaDataAttribute : Attribute
	{
		/// <summary>Gets or sets the data source's name.</summary>
		public string Name { get; set; }
	}

	/// <summary>A column.</summary>
	public abstract class GQIColumn
	{
		/// <summary>Initializes a new instance of the <see cref="GQIColumn"/> class.</summary>
		protected GQIColumn(string name)
		{
			Name = name;
		}

		/// <summary>Gets the column name.</summary>
		public string Name { get; private set; }
	}

	/// <summary>A text column.</summary>
	public class GQIStringColumn : GQIColumn
	{
		/// <summary>Initializes a new instance of the <see cref="GQIStringColumn"/> class.</summary>
		public GQIStringColumn(string name) : base(name)
		{
		}
	}

	/// <summary>A whole-number column.</summary>
	public class GQIIntColumn : GQIColumn
	{
		/// <summary>Initializes a new instance of the <see cref="GQIIntColumn"/> class.</summary>
		public GQIIntColumn(string name) : base(name)
		{
		}
	}

	/// <summary>A time column (UTC values).</summary>
	public class GQIDateTimeColumn : GQIColumn
	{
		/// <summary>Initializes a new instance of the <see cref="GQIDateTimeColumn"/> class.</summary>
		public GQIDateTimeColumn(string name) : base(name)
		{
		}
	}

	/// <summary>A cell.</summary>
	public class GQICell
	{
		/// <summary>Gets or sets the value.</summary>
		public object Value { get; set; }

		/// <summary>Gets or sets the text shown instead of the value.</summary>
		public string DisplayValue { get; set; }
	}

	/// <summary>A row.</summary>
	public class GQIRow
	{
		/// <summary>Initializes a new instance of the <see cref="GQIRow"/> class.</summary>
		public GQIRow(GQICell[] cells)
		{
			Cells = cells;
		}

		/// <summary>Gets the cells.</summary>
		public GQICell[] Cells { get; private set; }
	}

	/// <summary>A page of rows.</summary>
	public class GQIPage
	{
		/// <summary>Initializes a new instance of the <see cref="GQIPage"/> class.</summary>
		public GQIPage(GQIRow[] rows)
		{
			Rows = rows;
		}

		/// <summary>Gets the rows.</summary>
		public GQIRow[] Rows { get; private set; }

		/// <summary>Gets or sets a value indicating whether GQI may ask for another page.</summary>
		public bool HasNextPage { get; set; }
	}

	/// <summary>What GQI passes when it asks for a page.</summary>
	public class GetNextPageInputArgs
	{
	}
}
