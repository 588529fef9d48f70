// Automation script "Oceane Tables": GQI ad hoc data sources that put the intake's tables into DataMiner
// Dashboards and Low-Code Apps, with the replaced connector's column names: "Oceane Tickets", "Oceane Failed
// Ticket Requests" and "Oceane Debug Values" (Ticket Queue Processing Lock, Pending Ticket Creation Queue).
// Each class implements IGQIDataSource (SkylineCommunications/dataminer-docs, user-guide/Advanced_Modules/
// Dashboards_and_Low_Code_Apps/GQI/Extensions/API_Reference/IGQIDataSource.md) and pages through the intake
// (GET /tables/tickets, GET /tables/failed-requests: offset and limit, "next" while there is more) with the
// same bearer token as the ticket scripts, read on the Agent (IntakeSettings). The script is compiled as a
// library (Configuring_an_ad_hoc_data_source_in_a_query.md) and references SLAnalyticsTypes.dll.
namespace OceaneTables
{
	using System;
	using System.Collections.Generic;
	using System.Globalization;
	using System.Linq;

	using Oceane.DataMiner;

	using Skyline.DataMiner.Analytics.GenericInterface;

	/// <summary>One column: its header (the connector's name), the intake's key and its type.</summary>
	public sealed class TableColumn
	{
		public TableColumn(string header, string key, char kind)
		{
			Header = header;
			Key = key;
			Kind = kind;
		}

		public string Header { get; private set; }

		public string Key { get; private set; }

		/// <summary>Gets the type: 's' string, 'i' whole number, 't' time (UTC).</summary>
		public char Kind { get; private set; }

		public GQIColumn ToGqi()
		{
			switch (Kind)
			{
				case 'i':
					return new GQIIntColumn(Header);
				case 't':
					return new GQIDateTimeColumn(Header);
				default:
					return new GQIStringColumn(Header);
			}
		}

		public GQICell Cell(IDictionary<string, object> row)
		{
			string text = Json.Str(row, Key);
			switch (Kind)
			{
				case 'i':
					int number;
					return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out number)
						? new GQICell { Value = number }
						: new GQICell { Value = null };
				case 't':
					DateTime time;
					return DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out time)
						? new GQICell { Value = DateTime.SpecifyKind(time, DateTimeKind.Utc) }
						: new GQICell { Value = null };
				default:
					return new GQICell { Value = text };
			}
		}
	}

	/// <summary>A table the intake serves page by page.</summary>
	public abstract class IntakeTable : IGQIDataSource
	{
		/// <summary>Rows per request: the intake allows up to 500.</summary>
		public const int PageSize = 200;

		private readonly string path;
		private readonly TableColumn[] columns;
		private int? offset = 0;

		/// <summary>The table at the intake's <paramref name="path"/>, shown as <paramref name="columns"/>.</summary>
		protected IntakeTable(string path, TableColumn[] columns)
		{
			this.path = path;
			this.columns = columns;
		}

		public GQIColumn[] GetColumns()
		{
			return columns.Select(c => c.ToGqi()).ToArray();
		}

		public GQIPage GetNextPage(GetNextPageInputArgs args)
		{
			if (offset == null)
			{
				return new GQIPage(new GQIRow[0]) { HasNextPage = false };
			}

			IDictionary<string, object> page;
			using (var intake = new IntakeClient(IntakeSettings.Load()))
			{
				page = intake.GetObject(path + "?offset=" + offset.Value.ToString(CultureInfo.InvariantCulture)
					+ "&limit=" + PageSize.ToString(CultureInfo.InvariantCulture));
			}

			object raw;
			var rows = new List<GQIRow>();
			if (page.TryGetValue("rows", out raw) && raw is System.Collections.IEnumerable)
			{
				foreach (object item in (System.Collections.IEnumerable)raw)
				{
					var row = item as IDictionary<string, object>;
					if (row != null)
					{
						rows.Add(new GQIRow(columns.Select(c => c.Cell(row)).ToArray()));
					}
				}
			}

			int next;
			offset = int.TryParse(Json.Str(page, "next"), NumberStyles.None, CultureInfo.InvariantCulture, out next) ? next : (int?)null;
			return new GQIPage(rows.ToArray()) { HasNextPage = offset != null };
		}
	}

	/// <summary>The connector's Tickets table.</summary>
	[GQIMetaData(Name = "Oceane Tickets")]
	public sealed class TicketsTable : IntakeTable
	{
		private static readonly TableColumn[] TicketColumns =
		{
			new TableColumn("Instance", "instance", 's'),
			new TableColumn("Ticket ID", "ticketId", 's'),
			new TableColumn("Alarm ID", "alarmId", 'i'),
			new TableColumn("DataMiner ID", "dmaId", 'i'),
			new TableColumn("Element ID", "elementId", 'i'),
			new TableColumn("Element Name", "elementName", 's'),
			new TableColumn("Created At", "createdAt", 't'),
			new TableColumn("Priority", "priority", 's'),
			new TableColumn("Urgency", "urgency", 's'),
			new TableColumn("Technical Impact", "technicalImpact", 's'),
			new TableColumn("Client Impact", "clientImpact", 's'),
			new TableColumn("Root Cause", "rootCause", 's'),
			new TableColumn("Status", "status", 's'),
			new TableColumn("Ticket URL", "ticketUrl", 's'),
			new TableColumn("Oceane Status", "oceaneStatus", 's'),
			new TableColumn("Write-back", "writebackState", 's'),
		};

		public TicketsTable()
			: base("/tables/tickets", TicketColumns)
		{
		}
	}

	/// <summary>The connector's Failed Ticket Requests table.</summary>
	[GQIMetaData(Name = "Oceane Failed Ticket Requests")]
	public sealed class FailedRequestsTable : IntakeTable
	{
		private static readonly TableColumn[] FailedColumns =
		{
			new TableColumn("Instance", "instance", 's'),
			new TableColumn("Ticket ID", "ticketId", 's'),
			new TableColumn("HTTP Error Code", "httpErrorCode", 'i'),
			new TableColumn("App Error Code", "appErrorCode", 's'),
			new TableColumn("Error Message", "errorMessage", 's'),
			new TableColumn("Error Description", "errorDescription", 's'),
			new TableColumn("Failed At", "failedAt", 't'),
			new TableColumn("Attempt", "attempt", 'i'),
		};

		public FailedRequestsTable()
			: base("/tables/failed-requests", FailedColumns)
		{
		}
	}

	/// <summary>The connector's debug page: the processing lock and the pending queue (GET /status).</summary>
	[GQIMetaData(Name = "Oceane Debug Values")]
	public sealed class DebugValues : IGQIDataSource
	{
		public GQIColumn[] GetColumns()
		{
			return new GQIColumn[] { new GQIStringColumn("Name"), new GQIStringColumn("Value") };
		}

		public GQIPage GetNextPage(GetNextPageInputArgs args)
		{
			IDictionary<string, object> status;
			using (var intake = new IntakeClient(IntakeSettings.Load()))
			{
				status = intake.GetObject("/status");
			}

			var lockInfo = Member(status, "lock");
			var queue = Member(status, "queue");
			string holder = Json.Str(lockInfo, "worker");
			string lockText = Json.Str(lockInfo, "state") + (holder.Length > 0 ? " by " + holder + " (request " + Json.Str(lockInfo, "instance") + ")" : string.Empty);
			string pending = Json.Str(queue, "queued") + " queued, " + Json.Str(queue, "processing") + " processing";
			return new GQIPage(new[]
			{
				Row("Ticket Queue Processing Lock", lockText),
				Row("Pending Ticket Creation Queue", pending),
				Row("Oldest Open Request", Json.Str(queue, "oldest_open_instance")),
			})
			{
				HasNextPage = false,
			};
		}

		private static IDictionary<string, object> Member(IDictionary<string, object> obj, string key)
		{
			object value;
			return obj.TryGetValue(key, out value) ? value as IDictionary<string, object> : null;
		}

		private static GQIRow Row(string name, string value)
		{
			return new GQIRow(new[] { new GQICell { Value = name }, new GQICell { Value = value } });
		}
	}
}
